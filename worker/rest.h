/* REST handlers (SPEC S8) for requests that are not WebSocket upgrades. */
#ifndef RAGWS_WORKER_REST_H
#define RAGWS_WORKER_REST_H

#include <stddef.h>

#include "worker/conn.h"
#include "worker/http_parser.h"

void rest_dispatch(conn_t *c, const http_request_t *req, const char *body,
                   size_t body_len);

/* Prometheus text of the summed shared statistics (caller frees). */
char *metrics_render(size_t *len);

#endif
