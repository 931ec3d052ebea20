/* The worker's storage: every SQL statement the worker runs, as typed
 * calls on top of io/pg.h (the non-blocking libpq client). Callers pass
 * C values; the statements, their parameter order and formatting live
 * here only (cli/ keeps the blocking administration: migrations, the
 * schema check, ingestion).
 *
 * Every call queues one statement and returns its request (db_req_t, see
 * io/pg.h for its lifetime and db_detach), or NULL when PostgreSQL is
 * unavailable or the queue is full: the callback is then never called.
 * A NULL callback is allowed (fire and forget: the statement still runs).
 * String arguments are copied before the call returns. Results are read
 * by the caller inside the callback, with the columns documented below. */
#ifndef RAGWS_WORKER_SVC_STORE_H
#define RAGWS_WORKER_SVC_STORE_H

#include <stdint.h>

#include "io/pg.h"

/* ---- conversations and messages ---- */

/* Creates or continues the conversation (kind, external_id) and stores
 * the user's message in it; metadata is a JSON object text. A new
 * conversation gets `owner` (NULL: none); an existing one is continued
 * only by the same owner, else no row. Row: conversation_id, message_id. */
db_req_t *store_insert_question(const char *kind, const char *external_id, const char *question,
                                const char *metadata, const char *owner, db_result_cb cb, void *ud);

/* An assistant message with status complete | cancelled | error. Row: id. */
db_req_t *store_save_answer(int64_t conversation_id, const char *content, const char *status,
                            const char *metadata, db_result_cb cb, void *ud);

/* Marks as cancelled the assistant message whose metadata.job is job_key
 * (queued behind its INSERT, so it finds the row). */
db_req_t *store_mark_cancelled(int64_t conversation_id, const char *job_key, db_result_cb cb,
                               void *ud);

/* The last STORE_HISTORY_MAX complete messages before before_message_id,
 * oldest first. Rows: role, content. */
#define STORE_HISTORY_MAX 10
db_req_t *store_history(int64_t conversation_id, int64_t before_message_id, db_result_cb cb,
                        void *ud);

/* A reaction to a stored chat answer (message_id, of a 'chat'
 * conversation): no row, and nothing stored, when there is none. Row: id. */
db_req_t *store_reaction(int64_t message_id, const char *external_message_id, const char *reaction,
                         db_result_cb cb, void *ud);

/* ---- documents ---- */

/* Full-text search of question's words (any of them) in the collection,
 * best first, at most k. Rows: chunk_id, document_id, filename, page
 * (NULL: none), score (0..1), snippet, content; one row of NULLs when the
 * collection exists but nothing matches; no row when it does not exist. */
db_req_t *store_retrieve(const char *collection, const char *question, int k, db_result_cb cb,
                         void *ud);

/* ---- JSON reads (REST): one row, one column holding the JSON text;
 * no row or NULL when not found ---- */

/* {"collections": [{name, description, total_documents, total_chunks,
 * storage_size_mb, last_updated}]} */
db_req_t *store_collections(db_result_cb cb, void *ud);
/* {name, description, created_at, total_documents, total_chunks,
 * documents: [...]} of one collection. */
db_req_t *store_collection(const char *name, db_result_cb cb, void *ud);
/* {conversation_id, kind, external_id, created_at, messages: [...]}; id is
 * the numeric id or an external id. owner NULL: any owner; "": only
 * conversations without one; else only that owner's. */
db_req_t *store_conversation_messages(const char *id, const char *owner, db_result_cb cb, void *ud);

#endif
