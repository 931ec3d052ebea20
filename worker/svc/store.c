#include "worker/svc/store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_STORE_USER[] =
    "WITH conv AS ("
    " INSERT INTO conversations (kind, external_id, owner) VALUES ($1, $2, $5)"
    " ON CONFLICT (kind, external_id) DO UPDATE SET updated_at = now()"
    "  WHERE conversations.owner IS NOT DISTINCT FROM EXCLUDED.owner"
    " RETURNING id)"
    " INSERT INTO messages (conversation_id, role, content, metadata)"
    " SELECT id, 'user', $3, $4::jsonb FROM conv"
    " RETURNING conversation_id, id";

static const char SQL_STORE_ASSISTANT[] =
    "INSERT INTO messages (conversation_id, role, content, status, metadata)"
    " VALUES ($1, 'assistant', $2, $3, $4::jsonb) RETURNING id";

/* Queued right behind the answer's INSERT (one connection runs statements
 * in order), so it finds the row that INSERT commits. */
static const char SQL_MARK_CANCELLED[] =
    "UPDATE messages SET status = 'cancelled',"
    " metadata = metadata || '{\"reason\":\"cancelled\"}'::jsonb"
    " WHERE conversation_id = $1 AND role = 'assistant' AND metadata->>'job' = $2";

static const char SQL_HISTORY[] = "SELECT role, content FROM ("
                                  " SELECT id, role, content FROM messages"
                                  " WHERE conversation_id = $1 AND status = 'complete' AND id < $2"
                                  " ORDER BY id DESC LIMIT 10) h ORDER BY id";

/* Stored only against a stored chat answer (the one bot_N named on this
 * connection, in the conversation it was given in): no row, and nothing
 * inserted, when it does not exist. */
static const char SQL_REACTION[] =
    "INSERT INTO reactions (message_id, conversation_id, external_message_id, reaction)"
    " SELECT m.id, m.conversation_id, $2, $3 FROM messages m"
    "  JOIN conversations c ON c.id = m.conversation_id AND c.kind = 'chat'"
    " WHERE m.id = $1::bigint AND m.role = 'assistant'"
    " RETURNING id";

/* One row per matching chunk of an indexed document (a document still
 * being ingested, or whose ingestion failed, is never cited); one row of
 * NULLs when the collection exists
 * but nothing matches; no row when the collection does not exist.
 * ts_rank_cd normalisation 32 maps the rank into 0..1 (rank / (rank + 1)). */
static const char SQL_RETRIEVE[] =
    "SELECT r.chunk_id, r.document_id, r.filename, r.page, r.score, r.snippet, r.content"
    " FROM (SELECT id FROM collections WHERE name = $1) col"
    " LEFT JOIN LATERAL ("
    "  SELECT c.id AS chunk_id, d.id AS document_id, d.filename, c.page,"
    "   ts_rank_cd(c.tsv, q, 32) AS score,"
    "   ts_headline('english', c.content, q,"
    "     'MaxFragments=2, MaxWords=35, MinWords=12, StartSel=\"\", StopSel=\"\"') AS snippet,"
    "   c.content"
    "  FROM chunks c JOIN documents d ON d.id = c.document_id,"
    "   websearch_to_tsquery('english', $2) q"
    "  WHERE c.collection_id = col.id AND c.tsv @@ q AND d.status = 'indexed'"
    "  ORDER BY score DESC, c.id LIMIT $3::int) r ON true";

/* JSON for listings is built by PostgreSQL itself (json_agg), so the rows
 * go to the client without a second encoding. */
static const char SQL_COLLECTIONS[] =
    "SELECT json_build_object('collections', coalesce(json_agg(json_build_object("
    " 'name', s.name, 'description', s.description, 'total_documents', s.docs,"
    " 'total_chunks', s.chunks, 'storage_size_mb', round(s.bytes / 1048576.0, 3),"
    " 'last_updated', s.last_updated) ORDER BY s.name), '[]'::json))::text"
    " FROM (SELECT col.name, col.description,"
    "  (SELECT count(*) FROM documents d WHERE d.collection_id = col.id) AS docs,"
    "  (SELECT count(*) FROM chunks c WHERE c.collection_id = col.id) AS chunks,"
    "  (SELECT coalesce(sum(d.size_bytes), 0) FROM documents d WHERE d.collection_id = col.id) AS "
    "bytes,"
    "  greatest(col.created_at, (SELECT max(d.created_at) FROM documents d"
    "   WHERE d.collection_id = col.id)) AS last_updated"
    "  FROM collections col) s";

static const char SQL_COLLECTION[] =
    "SELECT json_build_object('name', col.name, 'description', col.description,"
    " 'created_at', col.created_at,"
    " 'total_documents', (SELECT count(*) FROM documents d WHERE d.collection_id = col.id),"
    " 'total_chunks', (SELECT count(*) FROM chunks c WHERE c.collection_id = col.id),"
    " 'documents', coalesce((SELECT json_agg(json_build_object('document_id', d.id,"
    "   'filename', d.filename, 'content_type', d.content_type, 'size_bytes', d.size_bytes,"
    "   'status', d.status, 'created_at', d.created_at,"
    "   'chunks', (SELECT count(*) FROM chunks c WHERE c.document_id = d.id)) ORDER BY d.id)"
    "  FROM documents d WHERE d.collection_id = col.id), '[]'::json))::text"
    " FROM collections col WHERE col.name = $1";

/* {id} is the numeric conversation id or an external id (chat session,
 * Socket.IO chat_id, /ws/conversation session ...). $2: the owner filter
 * (NULL: none; "": conversations without owner). Another user's
 * conversation is simply not found (404), so ids cannot be probed. */
static const char SQL_CONVERSATION_MESSAGES[] =
    "SELECT json_build_object('conversation_id', cv.id, 'kind', cv.kind,"
    " 'external_id', cv.external_id, 'created_at', cv.created_at,"
    " 'messages', coalesce((SELECT json_agg(json_build_object('id', m.id, 'role', m.role,"
    "   'content', m.content, 'status', m.status, 'metadata', m.metadata,"
    "   'created_at', m.created_at) ORDER BY m.id)"
    "  FROM messages m WHERE m.conversation_id = cv.id), '[]'::json))::text"
    " FROM conversations cv"
    " WHERE (($1 ~ '^[0-9]{1,18}$' AND cv.id = $1::bigint) OR cv.external_id = $1)"
    "  AND ($2::text IS NULL OR cv.owner IS NOT DISTINCT FROM nullif($2, ''))"
    " ORDER BY (cv.id::text = $1) DESC, cv.updated_at DESC LIMIT 1";

static void int64_text(char out[24], int64_t v) { snprintf(out, 24, "%lld", (long long)v); }

db_req_t *store_insert_question(const char *kind, const char *external_id, const char *question,
                                const char *metadata, const char *owner, db_result_cb cb, void *ud)
{
    const char *vals[5] = {kind, external_id, question, metadata, owner};
    return db_exec(SQL_STORE_USER, 5, vals, cb, ud);
}

db_req_t *store_save_answer(int64_t conversation_id, const char *content, const char *status,
                            const char *metadata, db_result_cb cb, void *ud)
{
    char conv[24];
    int64_text(conv, conversation_id);
    const char *vals[4] = {conv, content, status, metadata};
    return db_exec(SQL_STORE_ASSISTANT, 4, vals, cb, ud);
}

db_req_t *store_mark_cancelled(int64_t conversation_id, const char *job_key, db_result_cb cb,
                               void *ud)
{
    char conv[24];
    int64_text(conv, conversation_id);
    const char *vals[2] = {conv, job_key};
    return db_exec(SQL_MARK_CANCELLED, 2, vals, cb, ud);
}

db_req_t *store_history(int64_t conversation_id, int64_t before_message_id, db_result_cb cb,
                        void *ud)
{
    char conv[24], before[24];
    int64_text(conv, conversation_id);
    int64_text(before, before_message_id);
    const char *vals[2] = {conv, before};
    return db_exec(SQL_HISTORY, 2, vals, cb, ud);
}

db_req_t *store_reaction(int64_t message_id, const char *external_message_id, const char *reaction,
                         db_result_cb cb, void *ud)
{
    char id[24];
    int64_text(id, message_id);
    const char *vals[3] = {id, external_message_id, reaction};
    return db_exec(SQL_REACTION, 3, vals, cb, ud);
}

/* "How do workers share broadcasts?" -> "how or do or workers or share or
 * broadcasts": websearch_to_tsquery ANDs plain words, which would demand
 * every word of a natural question; OR lets ts_rank_cd rank by coverage
 * (stop words are dropped by the english configuration). */
static char *or_query(const char *q)
{
    size_t len = strlen(q);
    char *out = malloc(len * 4 + 1);
    if (!out) return NULL;
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)q;
    while (*p) {
        while (*p && !(isalnum(*p) || *p >= 0x80)) p++;
        const unsigned char *s = p;
        while (*p && (isalnum(*p) || *p >= 0x80 || *p == '_')) p++;
        if (p > s) {
            if (n) {
                memcpy(out + n, " or ", 4);
                n += 4;
            }
            memcpy(out + n, s, (size_t)(p - s));
            n += (size_t)(p - s);
        }
    }
    out[n] = 0;
    return out;
}

db_req_t *store_retrieve(const char *collection, const char *question, int k, db_result_cb cb,
                         void *ud)
{
    char *q = or_query(question);
    char kt[16];
    snprintf(kt, sizeof kt, "%d", k);
    const char *vals[3] = {collection, q ? q : "", kt};
    db_req_t *r = db_exec(SQL_RETRIEVE, 3, vals, cb, ud);
    free(q);
    return r;
}

db_req_t *store_collections(db_result_cb cb, void *ud)
{
    return db_exec(SQL_COLLECTIONS, 0, NULL, cb, ud);
}

db_req_t *store_collection(const char *name, db_result_cb cb, void *ud)
{
    const char *vals[1] = {name};
    return db_exec(SQL_COLLECTION, 1, vals, cb, ud);
}

db_req_t *store_conversation_messages(const char *id, const char *owner, db_result_cb cb, void *ud)
{
    const char *vals[2] = {id, owner};
    return db_exec(SQL_CONVERSATION_MESSAGES, 2, vals, cb, ud);
}
