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

#endif
