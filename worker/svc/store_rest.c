#include "worker/svc/store_rest.h"

const char STORE_SQL_COLLECTIONS[] =
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

const char STORE_SQL_COLLECTION[] =
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
const char STORE_SQL_CONVERSATION_MESSAGES[] =
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
