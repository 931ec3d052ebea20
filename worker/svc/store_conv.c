#include "worker/svc/store_conv.h"

#include <stdio.h>

static const char SQL_CONV_INPUT[] =
    "WITH conv AS ("
    " INSERT INTO conversations (kind, external_id, owner) VALUES ('conversation', $1, $2)"
    " ON CONFLICT (kind, external_id) DO UPDATE SET updated_at = now()"
    "  WHERE conversations.owner IS NOT DISTINCT FROM EXCLUDED.owner"
    " RETURNING id)"
    " INSERT INTO messages (conversation_id, role, content, metadata)"
    " SELECT id, $3, $4, $5::jsonb FROM conv"
    " RETURNING conversation_id, id";

/* Inputs carry metadata.speaker; suggestions do not. */
static const char SQL_CONV_HISTORY[] =
    "SELECT speaker, sentiment, emotion, content FROM ("
    " SELECT m.id, m.metadata->>'speaker' AS speaker,"
    "  coalesce(m.metadata->>'sentiment', 'neutral') AS sentiment,"
    "  coalesce(m.metadata->>'emotion', 'neutral') AS emotion, m.content"
    " FROM conversations c JOIN messages m ON m.conversation_id = c.id"
    " WHERE c.kind = 'conversation' AND c.external_id = $1"
    "  AND ($2::text IS NULL OR c.owner IS NOT DISTINCT FROM nullif($2, ''))"
    "  AND m.metadata ? 'speaker'"
    "  AND m.id > coalesce((c.metadata->>'cleared_after')::bigint, 0)"
    " ORDER BY m.id DESC LIMIT $3::int) h ORDER BY id";

static const char SQL_CONV_SUGGESTION[] =
    "INSERT INTO messages (conversation_id, role, content, metadata)"
    " VALUES ($1::bigint, 'assistant', $2, $3::jsonb) RETURNING id";

static const char SQL_CONV_CLEAR[] =
    "UPDATE conversations c SET updated_at = now(), metadata = c.metadata ||"
    " jsonb_build_object('cleared_after',"
    "  coalesce((SELECT max(m.id) FROM messages m WHERE m.conversation_id = c.id), 0))"
    " WHERE c.kind = 'conversation' AND c.external_id = $1"
    "  AND ($2::text IS NULL OR c.owner IS NOT DISTINCT FROM nullif($2, ''))";

db_req_t *store_conv_input(const char *session_id, const char *owner, const char *role,
                           const char *text, const char *metadata, db_result_cb cb, void *ud)
{
    const char *vals[5] = {session_id, owner, role, text, metadata};
    return db_exec(SQL_CONV_INPUT, 5, vals, cb, ud);
}

db_req_t *store_conv_history(const char *session_id, const char *owner, int limit, db_result_cb cb,
                             void *ud)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *vals[3] = {session_id, owner, lim};
    return db_exec(SQL_CONV_HISTORY, 3, vals, cb, ud);
}

db_req_t *store_conv_suggestion(int64_t conversation_id, const char *direction,
                                const char *metadata, db_result_cb cb, void *ud)
{
    char conv[24];
    snprintf(conv, sizeof conv, "%lld", (long long)conversation_id);
    const char *vals[3] = {conv, direction, metadata};
    return db_exec(SQL_CONV_SUGGESTION, 3, vals, cb, ud);
}

db_req_t *store_conv_clear(const char *session_id, const char *owner, db_result_cb cb, void *ud)
{
    const char *vals[2] = {session_id, owner};
    return db_exec(SQL_CONV_CLEAR, 2, vals, cb, ud);
}
