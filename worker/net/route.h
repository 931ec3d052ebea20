/* A WebSocket endpoint: a path and what happens on its connections. Each
 * endpoint's JSON shapes live in protocol/; its behaviour in worker/ep_*.c. */
#ifndef RAGWS_WORKER_ENDPOINT_H
#define RAGWS_WORKER_ENDPOINT_H

#include <stddef.h>

#include "worker/net/conn.h"

typedef struct endpoint {
    const char *path;               /* exact path */
    int admin;                      /* needs the admin token (or loopback without one) */
    int own_auth;                   /* authenticates inside its protocol (Socket.IO CONNECT) */
    int binary_refused_in_protocol; /* answers binary in its own protocol, no 1003 */
    const char *channel;            /* subscribed on open, NULL for none */
    /* open_arg: what the caller of ws_upgrade passed (NULL from the router). */
    void (*on_open)(conn_t *c, void *open_arg);
    /* A complete, UTF-8 valid, rate-limited text message. */
    void (*on_text)(conn_t *c, const char *msg, size_t len);
    void (*on_close)(conn_t *c);
    /* This endpoint's error message shape (S4.0 codes). */
    void (*send_error)(conn_t *c, const char *code, const char *message);
} endpoint_t;

const endpoint_t *endpoint_find(const char *path, size_t len);
/* The i-th endpoint of the table, NULL past the end (for auth.endpoints checks). */
const endpoint_t *endpoint_at(size_t i);

#endif
