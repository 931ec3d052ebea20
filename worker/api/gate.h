/* Auth and Origin in one place (SPEC S7): the hooks worker.c gives the
 * transport (net->hooks), run from the route's requirement before any
 * handler, for REST and WebSocket upgrades alike, so that no endpoint can
 * forget them. Uses worker/svc/auth for the JWTs.
 *
 * REST (gate_http):
 *   - a token route, or a path no route serves: with auth.mode = jwt and
 *     auth.endpoints naming the path (routes_path_protected),
 *     "Authorization: Bearer <jwt>" is required, before the 404/405 so
 *     that a 401 tells nothing about the routes (401 with
 *     WWW-Authenticate: Bearer); the token's sub becomes params->owner;
 *   - an admin route (method matched; a wrong one is a 405 first): an
 *     Origin listed by name in cors.allowed_origins (403), Content-Type
 *     application/json (415: a browser page cannot send it without a
 *     preflight), the admin token or a loopback client without one (401);
 *   - public routes: nothing.
 * WebSocket (gate_ws), after the RFC 6455 checks: an allowed Origin (403),
 * for admin endpoints a listed Origin (403) and the admin token (401); for
 * token endpoints that do not authenticate in their own protocol, a JWT
 * from the Authorization header, ?token= or Sec-WebSocket-Protocol: a bad
 * or missing one still opens the connection so that the client gets the
 * auth_error message, then close 1008. */
#ifndef RAGWS_WORKER_API_GATE_H
#define RAGWS_WORKER_API_GATE_H

#include "worker/net/net.h"

int gate_http(conn_t *c, const http_request_t *req, int rc, const route_match_t *m,
              route_params_t *params);
int gate_ws(conn_t *c, const http_request_t *req, const route_t *r, net_ws_auth_t *out);

#endif
