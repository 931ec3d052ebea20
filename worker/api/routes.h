/* The route table of the worker (SPEC S8, S4): every WebSocket endpoint,
 * Engine.IO's raw path and every REST route, with method, path pattern,
 * handler, auth requirement and a one-line summary (worker/net/route.h
 * says what each field means). worker/api owns it; worker.c hands it to
 * the transport at start-up (net->routes), which looks every request up
 * here and runs the auth hook (worker/api/gate.h) before the handler.
 *
 * auth.endpoints names paths of this table: routes_check_config refuses
 * a list naming nothing served, a public path or an admin path (run by
 * check-config and at worker start, so the two agree). */
#ifndef RAGWS_WORKER_API_ROUTES_H
#define RAGWS_WORKER_API_ROUTES_H

#include <stddef.h>

#include "base/config.h"
#include "worker/net/route.h"

extern const route_t api_routes[];
extern const size_t api_n_routes;

/* Check cfg->auth_endpoints against the table. 0, or -1 with a message in
 * err ("auth.endpoints: /x matches no WebSocket endpoint or REST route"). */
int routes_check_config(const ragws_config_t *cfg, char *err, size_t errlen);

/* Does this path (WebSocket or REST) need a user token? The route takes
 * one (public and admin routes never do; an unknown path is treated like
 * a token route, so that a 401 comes before the 404) and auth.endpoints
 * asks for it there (auth_path_protected: mode jwt, listed or the list
 * empty). */
int routes_path_protected(const char *path, size_t len);

#endif
