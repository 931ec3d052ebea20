/* Admin REST calls that emit into Socket.IO project rooms (seed 002,
 * SPEC S4.4, S8), handlers of the route table (worker/api/routes.c):
 *   POST /api/projects/{id}/broadcast               {"event", "data"}
 *   POST /api/projects/{id}/documents/{doc}/status  {"status", "progress"}
 *   POST /api/projects/{id}/updates                 {"type", "data"}
 * Each publishes one Socket.IO event into the project's room on every
 * worker (through the ring). The admin gate ran before them. */
#ifndef RAGWS_WORKER_API_REST_PROJECTS_H
#define RAGWS_WORKER_API_REST_PROJECTS_H

#include <stddef.h>

#include "protocol/http_parser.h"
#include "worker/net/conn.h"
#include "worker/net/route.h"

void rest_project_broadcast(conn_t *c, const http_request_t *req, const route_params_t *params,
                            const char *body, size_t len);
void rest_project_updates(conn_t *c, const http_request_t *req, const route_params_t *params,
                          const char *body, size_t len);
void rest_document_status(conn_t *c, const http_request_t *req, const route_params_t *params,
                          const char *body, size_t len);

#endif
