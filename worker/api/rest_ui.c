#include "worker/api/rest_ui.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/config.h"
#include "worker/net/http.h"
#include "worker/net/net.h"

/* Scripts, styles, images and connections only from ragws itself; the
 * WebSockets of the page go to the same host (connect-src 'self' covers
 * ws: and wss: of the same host in current browsers; ws: wss: are listed
 * for the others). No inline script or style: uPlot sizes its elements
 * through the CSSOM, which CSP does not restrict. */
#define UI_CSP                                                                                     \
    "Content-Security-Policy: default-src 'self'; script-src 'self'; "                           \
    "style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; "       \
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'\r\n"

#define UI_MAX_ASSETS 64

void ui_etag(const char *data, size_t len, char *out, size_t outlen)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)data[i];
        h *= 0x100000001b3ull;
    }
    snprintf(out, outlen, "\"%016llx\"", (unsigned long long)h);
}

static int find_asset(const char *name)
{
    for (size_t i = 0; i < ui_n_assets && i < UI_MAX_ASSETS; i++)
        if (strcmp(ui_assets[i].name, name) == 0) return (int)i;
    return -1;
}

/* Per worker process: the assets do not change while it runs. */
static const char *etag_of(int i)
{
    static char tags[UI_MAX_ASSETS][24];
    if (!tags[i][0]) ui_etag(ui_assets[i].data, ui_assets[i].len, tags[i], sizeof tags[i]);
    return tags[i];
}

/* If-None-Match lists the ETag (or is "*"): the copy the browser has is
 * current. Weak comparison (RFC 9110 13.1.2): a W/ prefix is ignored. */
static int not_modified(const http_request_t *req, const char *etag)
{
    const http_header_t *h = http_find_header(req, "If-None-Match");
    if (!h) return 0;
    size_t tl = strlen(etag);
    const char *v = h->value, *end = h->value + h->value_len;
    while (v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ',')) v++;
        if (end - v >= 2 && v[0] == 'W' && v[1] == '/') v += 2;
        if (v < end && *v == '*') return 1;
        if ((size_t)(end - v) >= tl && memcmp(v, etag, tl) == 0) return 1;
        while (v < end && *v != ',') v++;
    }
    return 0;
}

static void serve(conn_t *c, const http_request_t *req, int i, int page)
{
    const ui_asset_t *a = &ui_assets[i];
    const char *etag = etag_of(i);
    char hdr[1024];
    snprintf(hdr, sizeof hdr, "ETag: %s\r\nCache-Control: no-cache\r\n"
             "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n%s",
             etag, page ? UI_CSP : "");
    if (not_modified(req, etag)) {
        http_respond(c, 304, a->content_type, "", 0, hdr);
        return;
    }
    http_respond(c, 200, a->content_type, a->data, a->len, hdr);
}

static int ui_enabled(void) { return net && net->cfg && net->cfg->ui_enabled; }

void rest_ui_page(conn_t *c, const http_request_t *req, const route_params_t *params,
                  const char *body, size_t len)
{
    if (!ui_enabled()) {
        http_respond_error(c, 404, "NOT_FOUND", "the browser UI is turned off (ui.enabled = no)");
        return;
    }
    int i = find_asset("index.html");
    if (i < 0) {
        http_respond_error(c, 500, "INTERNAL_ERROR", "the browser UI was not built");
        return;
    }
    serve(c, req, i, 1);
}

void rest_ui_asset(conn_t *c, const http_request_t *req, const route_params_t *params,
                   const char *body, size_t len)
{
    char name[64];
    int i = ui_enabled() && route_param(params, "file", name, sizeof name) > 0 ? find_asset(name)
                                                                               : -1;
    if (i < 0 || strcmp(name, "index.html") == 0) {
        http_respond_error(c, 404, "NOT_FOUND", "no such UI asset");
        return;
    }
    serve(c, req, i, 0);
}
