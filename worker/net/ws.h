/* WebSocket sessions: the RFC 6455 opening handshake, framing through
 * wslay, keepalive pings, close handshake, and S4.0 rules that belong to the
 * transport (1003, 1007, 1008, 1009, rate limit). */
#ifndef RAGWS_WORKER_WS_SESSION_H
#define RAGWS_WORKER_WS_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "worker/net/conn.h"
#include "worker/net/route.h"
#include "protocol/http_parser.h"

/* Answer an upgrade request on ep's path: 101 and switch the connection to
 * WebSocket, or an HTTP error (400, 403, 426, 503 ...). `rest` holds bytes
 * that followed the request head (early frames). open_arg is passed to
 * ep->on_open (borrowed, only during this call). */
void ws_upgrade(conn_t *c, const http_request_t *req, const endpoint_t *ep, const char *rest,
                size_t rest_len, void *open_arg);

/* The socket of an upgraded connection is readable. */
void ws_on_readable(conn_t *c);

/* A text frame, framed once; the same buffer may go to many connections. */
outbuf_t *ws_frame_text(const char *data, size_t len);

/* Send one text message (JSON) on this connection. */
int ws_send_text(conn_t *c, const char *data, size_t len);

/* ws_send_text of a malloc'd NUL-terminated JSON string, then free it:
 * the endpoints' encoders all return such strings. NULL (the encoder
 * failed) is logged and the connection is closed with 1011. */
int ws_send_owned(conn_t *c, char *json);

/* Start the close handshake with code and reason. */
void ws_close(conn_t *c, uint16_t code, const char *reason);

/* Periodic check: keepalive ping, pong timeout, close-wait timeout. */
void ws_sweep(conn_t *c, uint64_t now_ms);

/* Free transport state (wslay context) of a connection being closed. */
void ws_release(conn_t *c);

#endif
