/* The queries behind the REST listings (SPEC S8: GET /api/collections,
 * /api/collections/{name}, /api/conversations/{id}/messages), run by
 * worker/api/rest_rag.c through io/pg. Each returns one row, one column: the
 * answer's JSON text built by PostgreSQL (json_agg), or NULL / no row for
 * "not found". Parameters: STORE_SQL_COLLECTION $1 = name;
 * STORE_SQL_CONVERSATION_MESSAGES $1 = numeric or external id, $2 = owner
 * filter (NULL: none; "": conversations without owner). Static text. */
#ifndef RAGWS_WORKER_SVC_STORE_REST_H
#define RAGWS_WORKER_SVC_STORE_REST_H

extern const char STORE_SQL_COLLECTIONS[];
extern const char STORE_SQL_COLLECTION[];
extern const char STORE_SQL_CONVERSATION_MESSAGES[];

#endif
