/* REST handlers (SPEC S8) for requests that are not WebSocket upgrades.
 *
 * Guarding (SPEC S7), before any route runs: /health, /ready and /metrics
 * are always open; admin routes take the admin token (or a loopback
 * client without one), refuse an Origin not listed by name in
 * cors.allowed_origins (403) and any body that is not application/json
 * (415); with auth.mode = jwt, every other path that auth_path_protected
 * names needs "Authorization: Bearer <jwt>" (401 with WWW-Authenticate:
 * Bearer otherwise), and the token's sub decides which conversations the
 * caller reads. */
#ifndef RAGWS_WORKER_REST_H
#define RAGWS_WORKER_REST_H

#include <stddef.h>

#include "worker/net/conn.h"
#include "protocol/http_parser.h"
#include "shm/region.h"

/* How a path is guarded. */
enum route_kind { ROUTE_NONE = 0, ROUTE_PUBLIC, ROUTE_USER, ROUTE_ADMIN };

/* The REST routes: pattern ("{}" is one path segment) and kind; the table
 * ends with a NULL pattern. auth.c checks auth.endpoints against it. */
typedef struct rest_route {
    const char *pattern;
    int kind;
} rest_route_t;
extern const rest_route_t rest_routes[];

/* Admin REST gate: answers 403 / 415 / 401 and returns 0, or returns 1. */
int rest_admin_gate(conn_t *c, const http_request_t *req);

void rest_dispatch(conn_t *c, const http_request_t *req, const char *body, size_t body_len);

/* Prometheus text of the summed shared statistics of shm (caller frees). */
char *metrics_render(shm_region_t *shm, size_t *len);

#endif
