/* Engine.IO v4 at /socket.io/ (SPEC S4.4, S12): the transport under
 * Socket.IO. Sessions over HTTP long-polling and WebSocket, the upgrade
 * (probe, then switch), ping/pong timers, and the hand-over of a request to
 * the worker that owns its session. It knows nothing of what the messages
 * mean: every message packet ('4' + data) goes to the upper layer
 * (worker/api/socketio.c) through an eio_handler_t.
 *
 * Sessions. A session lives in the worker that created it. Its sid names
 * that worker (2 hex digits of slot, 8 of pid, 16 random), so a polling
 * request that lands on another worker is handed over with its socket
 * (worker/net/handoff.h). This module owns the session, its packet queue
 * and its transports; the session is freed after handler->on_close, and no
 * call may name it afterwards.
 *
 * The upper layer. handler->on_open returns the upper layer's state for a
 * new session (eio_upper reads it back); on_close is its last chance to
 * release that state. The handler is the caller's, passed to eio_http
 * (static, it outlives every session).
 *
 * Sending. eio_send takes whole Engine.IO packets ("42[...]"): written at
 * once as a WebSocket text frame, or copied into the queue of the next
 * long-poll response (bounded: a session whose client stops polling while
 * SIO_QUEUE_MAX packets wait is closed as a slow consumer). eio_send_frame
 * is the fan-out path of rooms: the ring's record framed once, the same
 * bytes queued on every WebSocket member, the packet copied for pollers. */
#ifndef RAGWS_WORKER_API_ENGINEIO_H
#define RAGWS_WORKER_API_ENGINEIO_H

#include <stddef.h>

#include "protocol/http_parser.h"
#include "worker/net/conn.h"
#include "worker/net/outbuf.h"

typedef struct eio_session eio_session_t;

typedef struct eio_handler {
    /* A new session: the upper layer's state for it, NULL when out of
     * memory (the session is then dropped before it is announced). */
    void *(*on_open)(eio_session_t *s);
    /* One message packet: the data after the '4' (not NUL-terminated). */
    void (*on_message)(eio_session_t *s, const char *data, size_t len);
    /* A message the WebSocket transport refused (S4.0 code and text). */
    void (*on_transport_error)(eio_session_t *s, const char *code, const char *message);
    /* The session ends (client close, ping timeout, transport closed, slow
     * consumer, bad request): release the upper state. Nothing is sent. */
    void (*on_close)(eio_session_t *s);
} eio_handler_t;

/* Handle an HTTP request on /socket.io/ for the protocol above handler h.
 * Returns 1 when answered (or answering asynchronously: a parked GET) and
 * the request may be consumed, -1 when the connection changed hands
 * (upgraded, handed over or closed). body: the request's body; rest: bytes
 * after this request (early WebSocket frames). */
int eio_http(conn_t *c, const http_request_t *req, const char *body, size_t body_len,
             const char *rest, size_t rest_len, const eio_handler_t *h);

/* Send one Engine.IO packet (copied when queued). */
void eio_send(eio_session_t *s, const char *pkt, size_t len);
/* The same for an LLM token that arrived at arrived_ns (loop clock): over
 * the WebSocket transport its frame is timed for the token-latency
 * histogram (a long-poll answer is not: it waits for the client's GET). */
void eio_send_at(eio_session_t *s, const char *pkt, size_t len, uint64_t arrived_ns);

/* Send the same packet pre-framed: `frame` (a reference is taken) on a
 * WebSocket transport, else pkt queued like eio_send. */
void eio_send_frame(eio_session_t *s, outbuf_t *frame, const char *pkt, size_t len);

/* The upper state returned by on_open; the session id (26 characters). */
void *eio_upper(const eio_session_t *s);
const char *eio_sid(const eio_session_t *s);

#endif
