/* GET /api/webhooks/deliveries (see rest_webhooks.h). */
#include "worker/api/rest_webhooks.h"

#include <stdlib.h>
#include <string.h>

#include "worker/net/http.h"
#include "worker/svc/webhook.h"

#define LIST_MAX       200
#define HTTP_QUERY_MAX 4096

/* c is NULL once the client went away (the listing still completes). */
typedef struct pending {
    conn_t *c;
} pending_t;

static void pending_abort(conn_t *c, void *data)
{
    (void)c;
    ((pending_t *)data)->c = NULL;
}

static void listed(void *ud, const char *json, const char *error)
{
    pending_t *p = ud;
    if (p->c) {
        if (json)
            http_respond(p->c, 200, "application/json", json, strlen(json), NULL);
        else
            http_respond_error(p->c, 503, "STORAGE_UNAVAILABLE", error);
        http_end_async(p->c);
    }
    free(p);
}

static const char *const STATUSES[] = {"pending", "delivered", "dead"};

void rest_webhook_deliveries(conn_t *c, const http_request_t *req, const route_params_t *params,
                             const char *body, size_t len)
{
    (void)params;
    (void)body;
    (void)len;
    char status[HTTP_QUERY_MAX]; /* as large as any query: -1 means absent */
    const char *filter = NULL;
    int n =
        req->query_len < sizeof status ? http_query_param(req, "status", status, sizeof status) : 0;
    for (size_t i = 0; n > 0 && i < sizeof STATUSES / sizeof STATUSES[0]; i++)
        if (strcmp(status, STATUSES[i]) == 0) filter = STATUSES[i];
    if (n >= 0 && !filter) {
        http_respond_error(c, 400, "VALIDATION_ERROR", "status must be pending, delivered or dead");
        return;
    }
    pending_t *p = calloc(1, sizeof *p);
    if (p && !http_begin_async(c, req, pending_abort, p)) {
        free(p);
        p = NULL;
    }
    if (!p) {
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    p->c = c;
    if (webhook_list(filter, LIST_MAX, listed, p) == 0) return;
    http_respond_error(c, 503, "STORAGE_UNAVAILABLE", "PostgreSQL is unavailable; retry shortly");
    http_end_async(c);
    free(p);
}
