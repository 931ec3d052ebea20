/* GET / and GET /ui/{file} (SPEC S8): the browser UI (chat, documents,
 * ingestion dashboard, conversation assistant, operations), a page of
 * plain HTML, CSS and ES modules with the uPlot charting library.
 *
 * The files are compiled in: build/gen/ui_assets.c, written by
 * scripts/embed-assets.sh from web/ui/ and node_modules/uplot/dist,
 * defines ui_assets[] (static data, never freed). / serves index.html;
 * /ui/{file} the others. ui.enabled = no: both answer 404.
 *
 * Caching: every answer carries a strong ETag (FNV-1a 64 of the bytes,
 * computed on first use and kept for the life of the worker) and
 * "Cache-Control: no-cache", so a browser revalidates (304 Not Modified
 * on If-None-Match) and never runs assets older than the binary. The
 * page's Content-Security-Policy allows only 'self' (and ws:/wss: of
 * the page's host for the WebSockets). */
#ifndef RAGWS_WORKER_API_REST_UI_H
#define RAGWS_WORKER_API_REST_UI_H

#include <stddef.h>

#include "protocol/http_parser.h"
#include "worker/net/conn.h"
#include "worker/net/route.h"

typedef struct ui_asset {
    const char *name; /* base name: "app.js" */
    const char *content_type;
    const char *data;
    size_t len;
} ui_asset_t;

extern const ui_asset_t ui_assets[];
extern const size_t ui_n_assets;

void rest_ui_page(conn_t *c, const http_request_t *req, const route_params_t *params,
                  const char *body, size_t len);
void rest_ui_asset(conn_t *c, const http_request_t *req, const route_params_t *params,
                   const char *body, size_t len);

/* The quoted ETag of data[0..len): "\"<16 hex digits>\"" (out >= 19 bytes). */
void ui_etag(const char *data, size_t len, char *out, size_t outlen);

#endif
