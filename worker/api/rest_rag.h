/* REST routes backed by PostgreSQL and the RAG pipeline (SPEC S8). */
#ifndef RAGWS_WORKER_REST_RAG_H
#define RAGWS_WORKER_REST_RAG_H

#include <stddef.h>

#include "worker/net/conn.h"
#include "protocol/http_parser.h"

/* Returns 1 when the path was one of ours (answered or answering). owner:
 * NULL when auth is off (every conversation is readable); else the
 * caller's JWT sub, "" for none: only conversations stored with that owner
 * (NULL owner for "") are found, the others answer 404. A conversation
 * POST /api/query creates gets that owner. */
int rest_rag_dispatch(conn_t *c, const http_request_t *req, const char *body, size_t len,
                      const char *owner);

#endif
