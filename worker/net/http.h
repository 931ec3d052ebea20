/* HTTP/1.1 on a client connection: reading request heads and bodies (with
 * the configured limits; Content-Length or chunked; buffered for REST
 * handlers, streamed for ROUTE_STREAM ones), Expect: 100-continue,
 * keep-alive and pipelining, looking the request
 * up in the route table (net->routes, worker/net/route.h) and running the
 * auth hook before the route's handler, a WebSocket upgrade or a raw
 * handler, and writing responses (with the CORS header of the request
 * being answered: its allowed Origin is kept on the connection while it is
 * handled, c->origin, or in its pending asynchronous answer). */
#ifndef RAGWS_WORKER_HTTP_SERVER_H
#define RAGWS_WORKER_HTTP_SERVER_H

#include <stddef.h>

#include "worker/net/conn.h"
#include "protocol/http_parser.h"

void http_on_readable(conn_t *c);
/* A closing connection leaves the read-again list (net->read_again). */
void http_read_again_forget(conn_t *c);

/* Parse input already in c->in (a socket handed over from another worker). */
void http_feed(conn_t *c);

/* Queue a complete response. extra_headers: "Name: value\r\n"... or NULL. */
void http_respond(conn_t *c, int status, const char *content_type, const char *body,
                  size_t body_len, const char *extra_headers);

/* {"error":{"code":..,"message":..}} with the status (counted as an error);
 * _hdr adds extra headers ("Name: value\r\n"..., or NULL). */
void http_respond_error(conn_t *c, int status, const char *code, const char *message);
void http_respond_error_hdr(conn_t *c, int status, const char *code, const char *message,
                            const char *extra_headers);

/* Asynchronous REST answers: the handler calls http_begin_async, keeps
 * the returned pending state, and later answers with http_respond* then
 * http_end_async. If the connection closes first, abort(c, data) is called
 * (the handler must drop its reference to c). Pipelined requests wait.
 * http_end_async may be called at any time, even inside the handler that
 * began it (an answer ready at once): it never parses input itself; the
 * requests that waited are parsed by http_resume from the loop's flush of
 * dirty connections (CF_HTTP_RESUME). */
typedef struct http_pending {
    void (*abort)(conn_t *c, void *data);
    void *data;
    char origin[256]; /* allowed Origin to echo in the CORS headers */
} http_pending_t;

http_pending_t *http_begin_async(conn_t *c, const http_request_t *req,
                                 void (*abort)(conn_t *c, void *data), void *data);
void http_end_async(conn_t *c);
/* Parse the input that waited for an asynchronous answer, then read on.
 * Called by conn_flush_dirty for connections flagged CF_HTTP_RESUME. */
void http_resume(conn_t *c);
/* Called by conn_close. */
void http_abort_async(conn_t *c);

/* Streamed request bodies (ROUTE_STREAM). The route's handler, called
 * with the head, calls http_body_stream to receive the body (de-chunked)
 * as it arrives instead of answering; http.c then answers an
 * Expect: 100-continue. The body is never held whole: each span is valid
 * only during the data call.
 *   data   a span; 0 to go on, -1 when the handler answered early (413 ...)
 *          and dropped ud: the rest of the body is read and thrown away
 *          (bounded), and the connection closes after the answer.
 *   end    the whole body arrived: answer now or asynchronously
 *          (http_begin_async with this req); ud is the handler's again.
 *   abort  the body will not complete (client gone, idle timeout, bad
 *          chunked framing, which http.c answers with 400): drop ud. c
 *          may be closing: never answer from here.
 * Any answer sent before the body ended carries Connection: close. */
typedef struct http_body_ops {
    int (*data)(conn_t *c, void *ud, const char *p, size_t n);
    void (*end)(conn_t *c, const http_request_t *req, void *ud);
    void (*abort)(conn_t *c, void *ud, const char *why);
} http_body_ops_t;

void http_body_stream(conn_t *c, const http_body_ops_t *ops, void *ud);

/* Admin check: the admin token as "Authorization: Bearer" or ?token=, or,
 * when no token file is configured, a loopback client
 * (conn_request_loopback: never a request forwarded by an untrusted peer). */
int http_admin_allowed(const conn_t *c, const http_request_t *req);

/* Is the request's Origin (if any) allowed by cors.allowed_origins? */
int http_origin_allowed(const http_request_t *req);
/* Stricter, for admin calls: no Origin, or one listed explicitly in
 * cors.allowed_origins ("*" does not count). */
int http_origin_listed(const http_request_t *req);

#endif
