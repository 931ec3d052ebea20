/* Socket.IO at /socket.io/ (SPEC S4.4, seed 002): Engine.IO v4 sessions
 * over long-polling and WebSocket (with the upgrade probe), Socket.IO v5
 * on the default namespace, the seed's events, and project rooms that
 * reach every worker through the broadcast ring.
 *
 * A session lives in the worker that created it; its sid names that
 * worker (slot and pid), and a polling request that lands elsewhere is
 * handed over with its socket (worker/handoff.c). */
#ifndef RAGWS_WORKER_SIO_H
#define RAGWS_WORKER_SIO_H

#include <stddef.h>

#include "worker/net/conn.h"
#include "protocol/http_parser.h"

/* Ring channel of a project's room; payloads are Engine.IO packets. */
#define SIO_ROOM_PREFIX "sio:project_"

int sio_is_path(const http_request_t *req);

/* Handle an HTTP request on /socket.io/. Returns 1 when answered (or
 * answering asynchronously) and the request may be consumed, -1 when the
 * connection changed hands (upgraded, handed over or closed). rest: bytes
 * after this request. */
int sio_http(conn_t *c, const http_request_t *req, const char *body, size_t body_len,
             const char *rest, size_t rest_len);

/* Publish `event` with data to a project's room on every worker. */
int sio_room_emit(const char *project_id, const char *event, void *json_data);

/* A project id as used in room names: 1..48 of [A-Za-z0-9_-]. */
int sio_project_id_valid(const char *s, size_t len);

#endif
