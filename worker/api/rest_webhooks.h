/* The REST route of the webhook outbox (SPEC S4.5, admin):
 *
 *   GET /api/webhooks/deliveries[?status=pending|delivered|dead]
 *       200 {"deliveries":[...]} newest first, at most 200
 *       (protocol/webhook.h has the fields); another status: 400
 *       VALIDATION_ERROR; storage down: 503 STORAGE_UNAVAILABLE.
 *
 * The route is ROUTE_AUTH_ADMIN (the admin token, or loopback without
 * one). */
#ifndef RAGWS_WORKER_API_REST_WEBHOOKS_H
#define RAGWS_WORKER_API_REST_WEBHOOKS_H

#include <stddef.h>

#include "protocol/http_parser.h"
#include "worker/net/conn.h"
#include "worker/net/route.h"

void rest_webhook_deliveries(conn_t *c, const http_request_t *req, const route_params_t *params,
                             const char *body, size_t len);

#endif
