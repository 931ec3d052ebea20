/* Storage of the conversation assistant's sessions (seed 003): a session
 * is a `conversations` row of kind 'conversation' whose external_id is the
 * session id; each input is a `messages` row (role 'user' for the client,
 * 'assistant' for the agent, metadata {speaker, sentiment, emotion}) and
 * each suggestion one too (role 'assistant', content the recommended
 * direction, metadata {type:"suggestion", source, questions,
 * signals_detected, reply_to}). So operators read a call with plain SQL:
 *
 *   SELECT m.role, m.metadata->>'speaker', m.content FROM messages m
 *     JOIN conversations c ON c.id = m.conversation_id
 *    WHERE c.kind = 'conversation' AND c.external_id = 'call-12345' ORDER BY m.id;
 *
 * Clearing a session keeps its rows: conversations.metadata.cleared_after
 * (a message id) hides what came before from the session's memory.
 *
 * The calls follow worker/svc/store.h (one queued statement each, NULL
 * when PostgreSQL is unavailable, strings copied). owner: NULL for none /
 * any (auth off), else the JWT sub; a session belongs to the owner that
 * created it. */
#ifndef RAGWS_WORKER_SVC_STORE_CONV_H
#define RAGWS_WORKER_SVC_STORE_CONV_H

#include <stdint.h>

#include "io/pg.h"

#define STORE_CONV_KIND "conversation"

/* Creates or continues the session and stores one input (role "user" |
 * "assistant"). Row: conversation_id, message_id; no row when the
 * session belongs to another owner. */
db_req_t *store_conv_input(const char *session_id, const char *owner, const char *role,
                           const char *text, const char *metadata, db_result_cb cb, void *ud);

/* The session's last `limit` inputs since its last clear, oldest first
 * (none for an unknown session or another owner's). Rows: speaker,
 * sentiment, emotion, content. */
db_req_t *store_conv_history(const char *session_id, const char *owner, int limit, db_result_cb cb,
                             void *ud);

/* A suggestion answering an input of the session. Row: id. */
db_req_t *store_conv_suggestion(int64_t conversation_id, const char *direction,
                                const char *metadata, db_result_cb cb, void *ud);

/* Forget the session's memory (rows kept, see above). No rows. */
db_req_t *store_conv_clear(const char *session_id, const char *owner, db_result_cb cb, void *ud);

#endif
