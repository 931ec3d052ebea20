/* REST routes backed by PostgreSQL and the RAG pipeline (SPEC S8). */
#ifndef RAGWS_WORKER_REST_RAG_H
#define RAGWS_WORKER_REST_RAG_H

#include <stddef.h>

#include "worker/net/conn.h"
#include "protocol/http_parser.h"
#include "worker/net/route.h"

/* Handlers of the route table (worker/api/routes.c). params->owner: NULL
 * when auth is off (every conversation is readable); else the caller's JWT
 * sub, "" for none: only conversations stored with that owner (NULL owner
 * for "") are found, the others answer 404. A conversation POST /api/query
 * creates gets that owner. */
void rest_post_query(conn_t *c, const http_request_t *req, const route_params_t *params,
                     const char *body, size_t len);
void rest_get_collections(conn_t *c, const http_request_t *req, const route_params_t *params,
                          const char *body, size_t len);
void rest_get_collection(conn_t *c, const http_request_t *req, const route_params_t *params,
                         const char *body, size_t len);
void rest_get_messages(conn_t *c, const http_request_t *req, const route_params_t *params,
                       const char *body, size_t len);

/* The route parameter `name` copied into seg when it is a valid path
 * segment (the check GET /api/collections/{name} applies): 1; else it
 * answered 400 VALIDATION_ERROR with `what` and returns 0. */
int rest_segment_param(conn_t *c, const route_params_t *params, const char *name, char seg[129],
                       const char *what);

#endif
