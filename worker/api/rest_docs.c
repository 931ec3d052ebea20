#include "worker/api/rest_docs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/version.h"
#include "protocol/openapi.h"
#include "worker/api/routes.h"
#include "worker/net/http.h"

/* The page's scripts and styles are its own; the renderer draws inline
 * styles and data: images (SVG icons), and fetches /openapi.json. */
static const char PAGE_HEADERS[] =
    "Cache-Control: no-cache\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'\r\n";
/* Asset names carry no version: revalidate after an hour (an upgrade of
 * the binary may change them). */
static const char ASSET_HEADERS[] = "Cache-Control: public, max-age=3600\r\n"
                                    "X-Content-Type-Options: nosniff\r\n";

static void methods_of(const route_t *r, openapi_route_t *o)
{
    static const struct {
        unsigned bit;
        const char *name;
    } M[] = {{RM_GET, "get"},       {RM_HEAD, "head"},   {RM_POST, "post"},      {RM_PUT, "put"},
             {RM_DELETE, "delete"}, {RM_PATCH, "patch"}, {RM_OPTIONS, "options"}};
    int n = 0;
    unsigned methods = r->kind == ROUTE_WS ? RM_GET : r->methods;
    for (size_t i = 0; i < sizeof M / sizeof M[0] && n < OPENAPI_MAX_METHODS - 1; i++)
        if (methods & M[i].bit) o->methods[n++] = M[i].name;
    o->methods[n] = NULL;
}

char *rest_openapi_generate(const route_t *routes, size_t n, char *err, size_t errlen)
{
    openapi_route_t *o = calloc(n ? n : 1, sizeof *o);
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const route_t *r = &routes[i];
        o[i].pattern = r->pattern;
        methods_of(r, &o[i]);
        o[i].kind = r->kind == ROUTE_WS    ? OPENAPI_WS
                    : r->kind == ROUTE_RAW ? OPENAPI_RAW
                                           : OPENAPI_HTTP;
        o[i].auth = r->auth == ROUTE_AUTH_TOKEN   ? OPENAPI_AUTH_TOKEN
                    : r->auth == ROUTE_AUTH_ADMIN ? OPENAPI_AUTH_ADMIN
                                                  : OPENAPI_AUTH_NONE;
        o[i].summary = r->summary;
        o[i].doc = &r->doc;
    }
    char *doc = openapi_document(o, n, RAGWS_VERSION, err, errlen);
    free(o);
    return doc;
}

/* Generated once per process: the table does not change. */
static char *openapi_cache;

void rest_openapi(conn_t *c, const http_request_t *req, const route_params_t *params,
                  const char *body, size_t len)
{
    if (!openapi_cache) {
        char err[256];
        openapi_cache = rest_openapi_generate(api_routes, api_n_routes, err, sizeof err);
        if (!openapi_cache) {
            log_error("openapi: %s", err);
            http_respond_error(c, 500, "INTERNAL_ERROR", err);
            return;
        }
    }
    http_respond(c, 200, "application/json", openapi_cache, strlen(openapi_cache),
                 "Cache-Control: no-cache\r\n");
}

static const docs_asset_t *asset(const char *name)
{
    for (size_t i = 0; i < docs_n_assets; i++)
        if (strcmp(docs_assets[i].name, name) == 0) return &docs_assets[i];
    return NULL;
}

void rest_docs_page(conn_t *c, const http_request_t *req, const route_params_t *params,
                    const char *body, size_t len)
{
    const docs_asset_t *a = asset("index.html");
    if (!a) {
        http_respond_error(c, 500, "INTERNAL_ERROR", "the documentation page was not built");
        return;
    }
    http_respond(c, 200, a->content_type, a->data, a->len, PAGE_HEADERS);
}

void rest_docs_asset(conn_t *c, const http_request_t *req, const route_params_t *params,
                     const char *body, size_t len)
{
    char name[64];
    const docs_asset_t *a = route_param(params, "file", name, sizeof name) > 0 ? asset(name) : NULL;
    if (!a || strcmp(name, "index.html") == 0) {
        http_respond_error(c, 404, "NOT_FOUND", "no such documentation asset");
        return;
    }
    http_respond(c, 200, a->content_type, a->data, a->len, ASSET_HEADERS);
}
