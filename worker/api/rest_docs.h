/* GET /openapi.json and GET /docs (SPEC S8): the OpenAPI 3.1 document of
 * the route table (protocol/openapi.h generates it from each route's
 * summary and doc fields) and a page rendering it with Swagger UI.
 *
 * The document is generated on its first request and kept for the life of
 * the worker process (the table is static). The page's files are compiled
 * in: build/gen/docs_assets.c, written by scripts/embed-assets.sh from
 * web/docs/ and node_modules/swagger-ui-dist, defines docs_assets[] (static
 * data, never freed). /docs serves index.html; /docs/{file} the others. */
#ifndef RAGWS_WORKER_API_REST_DOCS_H
#define RAGWS_WORKER_API_REST_DOCS_H

#include <stddef.h>

#include "protocol/http_parser.h"
#include "worker/net/conn.h"
#include "worker/net/route.h"

typedef struct docs_asset {
    const char *name; /* base name: "swagger-ui-bundle.js" */
    const char *content_type;
    const char *data;
    size_t len;
} docs_asset_t;

extern const docs_asset_t docs_assets[];
extern const size_t docs_n_assets;

void rest_openapi(conn_t *c, const http_request_t *req, const route_params_t *params,
                  const char *body, size_t len);
void rest_docs_page(conn_t *c, const http_request_t *req, const route_params_t *params,
                    const char *body, size_t len);
void rest_docs_asset(conn_t *c, const http_request_t *req, const route_params_t *params,
                     const char *body, size_t len);

/* The document of routes[0..n) (caller frees), NULL with err set. */
char *rest_openapi_generate(const route_t *routes, size_t n, char *err, size_t errlen);

#endif
