/* Request bodies as worker/net/http.c receives them (internal to the
 * transport): chunked ones de-chunked in place, streamed ones handed to a
 * ROUTE_STREAM handler span by span (http_body_stream, http.h), and the
 * rest of a body read and dropped after an early answer.
 *
 * While a body arrives its head stays at c->in[0..head_len) (re-parsed at
 * each step, as heads are), followed by what a buffered body kept (the
 * de-chunked bytes so far, decoded in place: never longer than what they
 * came from) and then the raw bytes not yet looked at. A streamed body
 * keeps nothing: each span goes to the handler and is dropped.
 *
 * Ownership: c->body is malloc'd by body_new for the time of one body and
 * freed by body_drop (the handler's abort runs if it streams) or by
 * http.c once the body ended. */
#ifndef RAGWS_WORKER_NET_HTTP_BODY_H
#define RAGWS_WORKER_NET_HTTP_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/http_chunked.h"
#include "protocol/http_parser.h"
#include "worker/net/conn.h"
#include "worker/net/http.h"

typedef struct http_body {
    const http_body_ops_t *ops; /* streamed to a handler (NULL: buffered or dropped) */
    void *ud;
    http_chunked_t dec;
    uint8_t chunked;
    uint8_t discard;  /* answered early: the rest is read and dropped */
    uint8_t answered; /* an answer was queued before the body ended */
    uint32_t head_len;
    uint32_t kept;     /* buffered: de-chunked bytes after the head */
    uint64_t left;     /* Content-Length bytes still due */
    uint64_t received; /* body bytes so far */
} http_body_t;

/* A body state for req on c (its Content-Length or chunked framing); NULL
 * when out of memory. Clears CF_KEEPALIVE: an answer before the body
 * ended closes the connection. */
http_body_t *body_new(conn_t *c, const http_request_t *req);
/* Forget the body (the streaming handler's abort(why) runs). */
void body_drop(conn_t *c, const char *why);
/* Answered early: the rest is read and dropped while the answer goes out. */
void body_discard(conn_t *c);
/* Drop the body and close once the answers are out. Returns -1. */
int body_close(conn_t *c, const char *why);
/* Feed the raw bytes after the head (and what was kept). 0: more are due;
 * 1: the body ended, *total = head + kept, the next request's bytes follow
 * at c->in + *total; -1: the connection stops here. */
int body_step(conn_t *c, size_t *total);

#endif
