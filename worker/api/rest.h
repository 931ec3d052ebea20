/* REST handlers (SPEC S8) of the route table (worker/api/routes.c), each
 * with the route_http_fn signature of worker/net/route.h. Guarding (SPEC
 * S7) is not theirs: the auth hook (worker/api/gate.h) checked the route's
 * requirement before any of them runs, and params->owner carries the
 * caller's JWT sub for the routes that read conversations. */
#ifndef RAGWS_WORKER_API_REST_H
#define RAGWS_WORKER_API_REST_H

#include <stddef.h>

#include "protocol/http_parser.h"
#include "shm/region.h"
#include "worker/net/conn.h"
#include "worker/net/route.h"

/* GET /health, GET /ready, GET /metrics, POST /api/broadcast */
void rest_health(conn_t *c, const http_request_t *req, const route_params_t *params,
                 const char *body, size_t len);
void rest_ready(conn_t *c, const http_request_t *req, const route_params_t *params,
                const char *body, size_t len);
void rest_metrics(conn_t *c, const http_request_t *req, const route_params_t *params,
                  const char *body, size_t len);
void rest_broadcast(conn_t *c, const http_request_t *req, const route_params_t *params,
                    const char *body, size_t len);

/* Prometheus text of the summed shared statistics of shm (caller frees). */
char *metrics_render(shm_region_t *shm, size_t *len);

#endif
