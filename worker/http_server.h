/* HTTP/1.1 on a client connection: reading request heads and bodies (with
 * the configured limits), keep-alive and pipelining, dispatch to the
 * WebSocket upgrade or to the REST handlers, and writing responses. */
#ifndef RAGWS_WORKER_HTTP_SERVER_H
#define RAGWS_WORKER_HTTP_SERVER_H

#include <stddef.h>

#include "worker/conn.h"
#include "worker/http_parser.h"

void http_on_readable(conn_t *c);

/* Queue a complete response. extra_headers: "Name: value\r\n"... or NULL. */
void http_respond(conn_t *c, int status, const char *content_type,
                  const char *body, size_t body_len, const char *extra_headers);

/* {"error":{"code":..,"message":..}} with the status. */
void http_respond_error(conn_t *c, int status, const char *code,
                        const char *message);

/* Admin check: the admin token as "Authorization: Bearer" or ?token=, or,
 * when no token file is configured, a loopback peer. */
int http_admin_allowed(const conn_t *c, const http_request_t *req);

/* Is the request's Origin (if any) allowed by cors.allowed_origins? */
int http_origin_allowed(const http_request_t *req);

#endif
