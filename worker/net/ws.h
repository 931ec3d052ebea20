/* WebSocket sessions: the RFC 6455 opening handshake (ws_handshake.c),
 * framing through wslay, keepalive pings, close handshake, and S4.0 rules
 * that belong to the transport (1003, 1007, 1008, 1009, rate limit) (ws.c). */
#ifndef RAGWS_WORKER_WS_SESSION_H
#define RAGWS_WORKER_WS_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "worker/net/conn.h"
#include "worker/net/route.h"
#include "protocol/http_parser.h"

/* Answer an upgrade request with ep: 101 and switch the connection to
 * WebSocket, or an HTTP error (400, 426, 503 ...). `rest` holds bytes
 * that followed the request head (early frames). open_arg is passed to
 * ep->on_open (borrowed, only during this call). No auth hook runs: the
 * caller has checked the request (Engine.IO checks Origin itself and
 * authenticates at Socket.IO CONNECT). */
void ws_upgrade(conn_t *c, const http_request_t *req, const endpoint_t *ep, const char *rest,
                size_t rest_len, void *open_arg);

/* The same for the WebSocket route r of the table (http.c): the RFC 6455
 * checks, then net->hooks.ws_gate (Origin, admin token, JWT), then 101. A
 * token the hook refused still completes the handshake so that the client
 * is told why (the hook's message), then the connection closes 1008. */
void ws_upgrade_route(conn_t *c, const http_request_t *req, const route_t *r, const char *rest,
                      size_t rest_len);

/* Refuse a handshake: status and {"error":{"code","message"}}; counted as a
 * handshake failure; the connection closes after the answer. */
void ws_reject(conn_t *c, int status, const char *code, const char *msg, const char *extra);

/* Bytes of an upgraded connection's stream (what the socket gave, or the
 * early frames that followed the handshake in the same read). */
void ws_feed(conn_t *c, const uint8_t *data, size_t len);

/* The socket of an upgraded connection is readable. */
void ws_on_readable(conn_t *c);

/* A text frame, framed once; the same buffer may go to many connections. */
outbuf_t *ws_frame_text(const char *data, size_t len);

/* Send one text message (JSON) on this connection. _at: an LLM token that
 * arrived at arrived_ns (loop_clock_ns): its frame carries the stamp and
 * the flush observes the token latency (0: not a token). */
int ws_send_text(conn_t *c, const char *data, size_t len);
int ws_send_text_at(conn_t *c, const char *data, size_t len, uint64_t arrived_ns);

/* ws_send_text of a malloc'd NUL-terminated JSON string, then free it:
 * the endpoints' encoders all return such strings. NULL (the encoder
 * failed) is logged and the connection is closed with 1011. */
int ws_send_owned(conn_t *c, char *json);
int ws_send_owned_at(conn_t *c, char *json, uint64_t arrived_ns);

/* Start the close handshake with code and reason. */
void ws_close(conn_t *c, uint16_t code, const char *reason);

/* Periodic check: keepalive ping, pong timeout, close-wait timeout. */
void ws_sweep(conn_t *c, uint64_t now_ms);

/* Free transport state (wslay context) of a connection being closed. */
void ws_release(conn_t *c);

#endif
