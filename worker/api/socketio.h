/* Socket.IO v5 at /socket.io/ (SPEC S4.4, seed 002), on top of Engine.IO
 * (worker/api/engineio.h): the default namespace with its own JWT check
 * at CONNECT, CONNECT_ERROR, the seed's events (join_project,
 * leave_project, send_message, ping, get_metadata) with their acks, RAG
 * answers streamed as events, and project rooms that reach every worker
 * through the broadcast ring.
 *
 * State: one sio socket per Engine.IO session (its upper state), made when
 * the session opens and freed when it closes; it owns its room hook, its
 * RAG jobs (cancelled at close) and the ids the client sent. The packets'
 * JSON shapes are protocol/socketio.h's. */
#ifndef RAGWS_WORKER_API_SOCKETIO_H
#define RAGWS_WORKER_API_SOCKETIO_H

#include <stddef.h>

#include "protocol/http_parser.h"
#include "worker/net/conn.h"

/* Ring channel of a project's room; payloads are Engine.IO packets. */
#define SIO_ROOM_PREFIX "sio:project_"

int sio_is_path(const http_request_t *req);

/* The HTTP entry point of /socket.io/: eio_http (engineio.h) with the
 * Socket.IO handler. Returns 1 when answered (or answering
 * asynchronously) and the request may be consumed, -1 when the connection
 * changed hands (upgraded, handed over or closed). rest: bytes after this
 * request. */
int sio_http(conn_t *c, const http_request_t *req, const char *body, size_t body_len,
             const char *rest, size_t rest_len);

/* Publish `event` with data to a project's room on every worker. */
int sio_room_emit(const char *project_id, const char *event, void *json_data);

/* A project id as used in room names: 1..48 of [A-Za-z0-9_-]. */
int sio_project_id_valid(const char *s, size_t len);

#endif
