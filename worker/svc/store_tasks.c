#include "worker/svc/store_tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

/* Every statement returning tasks returns these columns first (see the
 * STORE_TASK_* positions); times as Unix seconds. */
#define TASK_COLS                                                                                  \
    " t.id, t.upload_id, t.filename,"                                                              \
    " (SELECT name FROM collections WHERE id = t.collection_id), t.status, t.progress,"            \
    " t.document_id, t.content_type, t.size_bytes, t.pages, t.pages_done, t.chunks, t.attempts,"   \
    " t.error, extract(epoch FROM t.created_at), extract(epoch FROM t.started_at),"                \
    " extract(epoch FROM t.finished_at), t.path, t.content_hash, t.project_id, t.collection_id"

#define RUN_MATCH " t.id = $1::bigint AND t.lease_owner = $2 AND t.attempts = $3::int"

#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static const char SQL_SUBMIT[] =
    "WITH col AS (INSERT INTO collections (name) VALUES ($2)"
    "  ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id)"
    " INSERT INTO tasks (kind, upload_id, collection_id, filename, content_type, path,"
    "  size_bytes, content_hash, project_id, owner)"
    " SELECT 'ingest', $1, col.id, $3, $4, $5, $6::bigint, $7, $8, $9 FROM col RETURNING id";

/* FOR UPDATE SKIP LOCKED: two workers polling at once take different
 * tasks, never the same one. */
static const char SQL_CLAIM[] =
    "UPDATE tasks t SET"
    " attempts = t.attempts + CASE WHEN t.status = 'queued' OR t.attempts < $3::int THEN 1"
    "  ELSE 0 END,"
    " status = CASE WHEN t.status = 'queued' OR t.attempts < $3::int THEN 'extracting'"
    "  ELSE 'failed' END,"
    " error = CASE WHEN t.status = 'queued' OR t.attempts < $3::int THEN NULL"
    "  ELSE 'worker died ' || t.attempts || ' times while running it' END,"
    " finished_at = CASE WHEN t.status = 'queued' OR t.attempts < $3::int THEN NULL ELSE now() END,"
    " lease_owner = $1, lease_until = now() + $2::int * interval '1 millisecond',"
    " started_at = coalesce(t.started_at, now()), updated_at = now(), stage = NULL,"
    " pages_done = 0, chunks = 0"
    " WHERE t.id = (SELECT id FROM tasks WHERE status = 'queued' OR (status IN "
    "(" STORE_RUNNING_STATUSES ") AND lease_until < now())"
    "  ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)"
    " RETURNING" TASK_COLS;

static const char SQL_RENEW[] =
    "WITH u AS (UPDATE tasks t SET lease_until = now() + $4::int * interval '1 millisecond'"
    "  WHERE" RUN_MATCH " AND t.status IN (" STORE_RUNNING_STATUSES ") RETURNING t.status)"
    " SELECT coalesce((SELECT status FROM u),"
    "  (SELECT CASE WHEN t.lease_owner = $2 AND t.attempts = $3::int THEN t.status ELSE 'lost' END"
    "   FROM tasks t WHERE t.id = $1::bigint), 'gone')";

static const char SQL_PROGRESS[] =
    "UPDATE tasks t SET status = $4, stage = $5, progress = $6::real, pages = $7::int,"
    " pages_done = $8::int, chunks = $9::bigint, updated_at = now()"
    " WHERE" RUN_MATCH " AND t.status IN (" STORE_RUNNING_STATUSES ")";

static const char SQL_LOG[] =
    "INSERT INTO task_logs (task_id, level, message) VALUES ($1::bigint, $2, $3)";

/* A run that lost the task changes nothing, unless the task was
 * cancelled: its partial rows go whoever holds it. */
static const char SQL_FINISH[] =
    "WITH t AS (UPDATE tasks t SET status = CASE WHEN t.status = 'cancelled' THEN 'cancelled'"
    "   ELSE $4 END,"
    "  error = CASE WHEN t.status = 'cancelled' THEN NULL ELSE $5 END,"
    "  document_id = coalesce(nullif($6::bigint, 0), t.document_id), chunks = $7::bigint,"
    "  progress = CASE WHEN $4 = 'completed' AND t.status <> 'cancelled' THEN 1 ELSE t.progress "
    "END,"
    "  finished_at = coalesce(t.finished_at, now()), updated_at = now(),"
    "  lease_owner = NULL, lease_until = NULL"
    "  WHERE" RUN_MATCH " AND (t.status IN (" STORE_RUNNING_STATUSES ") OR t.status = 'cancelled')"
    "  RETURNING t.status, t.document_id),"
    " ok AS (UPDATE documents SET status = 'indexed'"
    "  WHERE id = (SELECT document_id FROM t WHERE status = 'completed') RETURNING id),"
    " gone AS (DELETE FROM documents WHERE status <> 'indexed'"
    "  AND id = (SELECT document_id FROM t WHERE status <> 'completed') RETURNING id)"
    " SELECT (SELECT count(*) FROM t), (SELECT status FROM t)";

static const char SQL_DROP_PARTIAL[] =
    "DELETE FROM documents WHERE status <> 'indexed'"
    " AND id = (SELECT document_id FROM tasks WHERE id = $1::bigint)";

static const char SQL_COUNTS[] =
    "SELECT count(*) FILTER (WHERE status = 'queued'),"
    " count(*) FILTER (WHERE status IN (" STORE_RUNNING_STATUSES ")),"
    " count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),"
    " count(*) FILTER (WHERE status = 'cancelled') FROM tasks";

static const char SQL_LIST[] =
    "SELECT" TASK_COLS " FROM tasks t"
    " WHERE $1::text IS NULL OR t.status = $1"
    "  OR ($1 = 'active' AND t.status IN ('queued', " STORE_RUNNING_STATUSES "))"
    " ORDER BY t.id DESC LIMIT $2::int";

static const char SQL_LIST_ACTIVE[] =
    "SELECT" TASK_COLS " FROM tasks t WHERE t.status IN ('queued', " STORE_RUNNING_STATUSES ")"
    " ORDER BY t.id LIMIT $1::int";

static const char SQL_GET[] = "SELECT" TASK_COLS ", l.level, l.message, l.ts FROM tasks t"
                              " LEFT JOIN LATERAL (SELECT id, coalesce(level, 'info') AS level,"
                              "  coalesce(message, '') AS message, " ISO_UTC(
                                  "created_at") " AS ts"
                                                "  FROM task_logs WHERE task_id = t.id ORDER BY id "
                                                "DESC LIMIT $2::int) l ON true"
                                                " WHERE t.id = $1::bigint ORDER BY l.id";

static const char SQL_CANCEL[] =
    "WITH o AS (SELECT id, status AS old, coalesce(lease_until < now(), true) AS orphan"
    "  FROM tasks WHERE id = $1::bigint FOR UPDATE),"
    " u AS (UPDATE tasks t SET status = 'cancelled', error = NULL, finished_at = now(),"
    "  updated_at = now() FROM o WHERE t.id = o.id"
    "  AND o.old NOT IN ('completed', 'failed', 'cancelled') RETURNING" TASK_COLS ")"
    " SELECT u.*, 'cancelled', (o.old = 'queued' OR o.orphan)::int FROM u, o"
    " UNION ALL SELECT" TASK_COLS ", 'finished', 0 FROM tasks t"
    "  WHERE t.id = $1::bigint AND NOT EXISTS (SELECT 1 FROM u)";

/* ON CONFLICT: the unique (collection_id, content_hash) index; the
 * existing document is then the answer. */
static const char SQL_DOC_START[] =
    "WITH ins AS (INSERT INTO documents (collection_id, filename, content_type, size_bytes,"
    "  status, content_hash, metadata)"
    "  VALUES ($1::bigint, $2, $3, $4::bigint, 'processing', $5,"
    "   jsonb_build_object('source', 'upload', 'upload_id', $6::text, 'task_id', $7::bigint,"
    "    'project_id', $8::text, 'sha256', $5::text, 'chunk_chars', $9::int,"
    "    'chunk_overlap', $10::int))"
    "  ON CONFLICT (collection_id, content_hash) WHERE content_hash IS NOT NULL DO NOTHING"
    "  RETURNING id),"
    " tk AS (UPDATE tasks SET document_id = (SELECT id FROM ins) WHERE id = $7::bigint"
    "  AND EXISTS (SELECT 1 FROM ins))"
    " SELECT id, 0 FROM ins"
    " UNION ALL SELECT id, 1 FROM documents WHERE collection_id = $1::bigint"
    "  AND content_hash = $5 AND NOT EXISTS (SELECT 1 FROM ins)"
    " LIMIT 1";

static const char SQL_CHUNKS[] =
    "INSERT INTO chunks (document_id, collection_id, ordinal, page, content)"
    " SELECT $1::bigint, $2::bigint, $3::int + u.n - 1, u.p, u.c"
    " FROM unnest($4::int[], $5::text[]) WITH ORDINALITY AS u(p, c, n)";

/* The chunk count is read in the statement's snapshot, before the
 * cascade removes them. */
static const char SQL_DOC_DELETE[] =
    "WITH d AS (DELETE FROM documents WHERE id = $1::bigint RETURNING id, collection_id,"
    "  filename, metadata->>'project_id' AS project,"
    "  (SELECT count(*) FROM chunks c WHERE c.document_id = documents.id) AS n)"
    " SELECT d.id, col.name, d.filename, d.n, d.project FROM d"
    "  JOIN collections col ON col.id = d.collection_id";

/* Indexed documents only: a document still being ingested is neither
 * counted nor cited until its document_added. */
static const char SQL_COLLECTION_STATS[] =
    "WITH d AS (SELECT d.id, d.size_bytes, d.created_at FROM documents d, collections col"
    "  WHERE col.name = $1 AND d.collection_id = col.id AND d.status = 'indexed')"
    "SELECT (SELECT count(*) FROM d),"
    " (SELECT count(*) FROM chunks c WHERE c.document_id IN (SELECT id FROM d)),"
    " round((SELECT coalesce(sum(size_bytes), 0) FROM d) / 1048576.0, 3),"
    " " ISO_UTC(
        "greatest(col.created_at, (SELECT max(created_at) FROM d))") " FROM collections col WHERE "
                                                                     "col.name = $1";

/* ---- rows ---- */

const char *store_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

int64_t store_int(const PGresult *res, int row, int col)
{
    const char *s = store_text(res, row, col);
    return s ? strtoll(s, NULL, 10) : 0;
}

static double store_real(const PGresult *res, int row, int col)
{
    const char *s = store_text(res, row, col);
    return s ? strtod(s, NULL) : 0;
}

void store_task_row(const PGresult *res, int row, ingest_task_view_t *v)
{
    *v = (ingest_task_view_t){
        .id = store_int(res, row, STORE_TASK_ID),
        .upload_id = store_text(res, row, STORE_TASK_UPLOAD_ID),
        .filename = store_text(res, row, STORE_TASK_FILENAME),
        .collection = store_text(res, row, STORE_TASK_COLLECTION),
        .status = store_text(res, row, STORE_TASK_STATUS),
        .progress = store_real(res, row, STORE_TASK_PROGRESS),
        .document_id = store_int(res, row, STORE_TASK_DOCUMENT_ID),
        .content_type = store_text(res, row, STORE_TASK_CONTENT_TYPE),
        .size_bytes = (uint64_t)store_int(res, row, STORE_TASK_SIZE_BYTES),
        .pages = (uint32_t)store_int(res, row, STORE_TASK_PAGES),
        .pages_done = (uint32_t)store_int(res, row, STORE_TASK_PAGES_DONE),
        .chunks = (uint64_t)store_int(res, row, STORE_TASK_CHUNKS),
        .attempts = (uint32_t)store_int(res, row, STORE_TASK_ATTEMPTS),
        .error = store_text(res, row, STORE_TASK_ERROR),
        .created_at = store_real(res, row, STORE_TASK_CREATED_AT),
        .started_at = store_real(res, row, STORE_TASK_STARTED_AT),
        .finished_at = store_real(res, row, STORE_TASK_FINISHED_AT),
    };
    if (!v->status) v->status = "queued";
}

/* ---- calls ---- */

typedef char num_t[24];

static const char *u64(num_t out, uint64_t v)
{
    snprintf(out, sizeof(num_t), "%llu", (unsigned long long)v);
    return out;
}

static const char *i64(num_t out, int64_t v)
{
    snprintf(out, sizeof(num_t), "%lld", (long long)v);
    return out;
}

db_req_t *store_task_submit(const char *upload_id, const char *collection, const char *filename,
                            const char *content_type, const char *path, uint64_t size_bytes,
                            const char *sha256_hex, const char *project_id, const char *owner,
                            db_result_cb cb, void *ud)
{
    num_t sz;
    const char *v[9] = {upload_id,           collection, filename,   content_type, path,
                        u64(sz, size_bytes), sha256_hex, project_id, owner};
    return db_exec(SQL_SUBMIT, 9, v, cb, ud);
}

db_req_t *store_task_claim(const char *lease_owner, uint32_t lease_ms, uint32_t max_attempts,
                           db_result_cb cb, void *ud)
{
    num_t l, m;
    const char *v[3] = {lease_owner, u64(l, lease_ms), u64(m, max_attempts)};
    return db_exec(SQL_CLAIM, 3, v, cb, ud);
}

db_req_t *store_task_renew(int64_t id, const char *lease_owner, uint32_t attempt, uint32_t lease_ms,
                           db_result_cb cb, void *ud)
{
    num_t a, b, c;
    const char *v[4] = {i64(a, id), lease_owner, u64(b, attempt), u64(c, lease_ms)};
    return db_exec(SQL_RENEW, 4, v, cb, ud);
}

db_req_t *store_task_progress(int64_t id, const char *lease_owner, uint32_t attempt,
                              const store_progress_t *p, db_result_cb cb, void *ud)
{
    num_t a, b, pg, pd, ch;
    char prog[32];
    snprintf(prog, sizeof prog, "%.4f", p->progress);
    const char *v[9] = {i64(a, id),        lease_owner, u64(b, attempt),   p->status,
                        p->stage,          prog,        u64(pg, p->pages), u64(pd, p->pages_done),
                        u64(ch, p->chunks)};
    return db_exec(SQL_PROGRESS, 9, v, cb, ud);
}

db_req_t *store_task_log(int64_t id, const char *level, const char *message, db_result_cb cb,
                         void *ud)
{
    num_t a;
    const char *v[3] = {i64(a, id), level, message};
    return db_exec(SQL_LOG, 3, v, cb, ud);
}

db_req_t *store_task_finish(int64_t id, const char *lease_owner, uint32_t attempt,
                            const char *status, const char *error, int64_t document_id,
                            uint64_t chunks, db_result_cb cb, void *ud)
{
    num_t a, b, d, c;
    const char *v[7] = {i64(a, id), lease_owner,         u64(b, attempt), status,
                        error,      i64(d, document_id), u64(c, chunks)};
    return db_exec(SQL_FINISH, 7, v, cb, ud);
}

db_req_t *store_task_drop_partial(int64_t id, db_result_cb cb, void *ud)
{
    num_t a;
    const char *v[1] = {i64(a, id)};
    return db_exec(SQL_DROP_PARTIAL, 1, v, cb, ud);
}

db_req_t *store_task_counts(db_result_cb cb, void *ud)
{
    return db_exec(SQL_COUNTS, 0, NULL, cb, ud);
}

db_req_t *store_task_list(const char *status, uint32_t limit, db_result_cb cb, void *ud)
{
    num_t l;
    const char *v[2] = {status, u64(l, limit)};
    return db_exec(SQL_LIST, 2, v, cb, ud);
}

db_req_t *store_task_list_active(uint32_t limit, db_result_cb cb, void *ud)
{
    num_t l;
    const char *v[1] = {u64(l, limit)};
    return db_exec(SQL_LIST_ACTIVE, 1, v, cb, ud);
}

db_req_t *store_task_get(int64_t id, uint32_t log_limit, db_result_cb cb, void *ud)
{
    num_t a, l;
    const char *v[2] = {i64(a, id), u64(l, log_limit)};
    return db_exec(SQL_GET, 2, v, cb, ud);
}

db_req_t *store_task_cancel(int64_t id, db_result_cb cb, void *ud)
{
    num_t a;
    const char *v[1] = {i64(a, id)};
    return db_exec(SQL_CANCEL, 1, v, cb, ud);
}

db_req_t *store_document_start(const store_doc_t *d, db_result_cb cb, void *ud)
{
    num_t col, sz, task, cc, co;
    const char *v[10] = {i64(col, d->collection_id), d->filename,     d->content_type,
                         u64(sz, d->size_bytes),     d->content_hash, d->upload_id,
                         i64(task, d->task_id),      d->project_id,   u64(cc, d->chunk_chars),
                         u64(co, d->chunk_overlap)};
    return db_exec(SQL_DOC_START, 10, v, cb, ud);
}

/* One element of a PostgreSQL array literal: "..." with \ and " escaped
 * (the chunk text is valid UTF-8 without NUL, see ingest_run.c). */
static int array_text(buf_t *b, const char *s, size_t n)
{
    if (buf_append_char(b, '"') < 0) return -1;
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"' && s[i] != '\\') continue;
        if (buf_append(b, s + from, i - from) < 0 || buf_append_char(b, '\\') < 0) return -1;
        from = i;
    }
    if (buf_append(b, s + from, n - from) < 0) return -1;
    return buf_append_char(b, '"');
}

db_req_t *store_chunks_insert(int64_t document_id, int64_t collection_id, uint32_t first_ordinal,
                              const uint32_t *pages, const char *const *texts, const size_t *lens,
                              size_t n, db_result_cb cb, void *ud)
{
    buf_t pg = BUF_INIT(0), tx = BUF_INIT(0);
    int rc = buf_append_char(&pg, '{') | buf_append_char(&tx, '{');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i) rc |= buf_append_char(&pg, ',') | buf_append_char(&tx, ',');
        if (pages[i])
            rc |= buf_printf(&pg, "%u", pages[i]);
        else
            rc |= buf_append_str(&pg, "NULL");
        rc |= array_text(&tx, texts[i], lens[i]);
    }
    rc |= buf_append_char(&pg, '}') | buf_append_char(&tx, '}');
    db_req_t *r = NULL;
    if (rc == 0) {
        num_t d, c, o;
        const char *v[5] = {i64(d, document_id), i64(c, collection_id), u64(o, first_ordinal),
                            pg.data, tx.data};
        r = db_exec(SQL_CHUNKS, 5, v, cb, ud);
    }
    buf_free(&pg);
    buf_free(&tx);
    return r;
}

db_req_t *store_document_delete(int64_t id, db_result_cb cb, void *ud)
{
    num_t a;
    const char *v[1] = {i64(a, id)};
    return db_exec(SQL_DOC_DELETE, 1, v, cb, ud);
}

db_req_t *store_collection_stats(const char *collection, db_result_cb cb, void *ud)
{
    const char *v[1] = {collection};
    return db_exec(SQL_COLLECTION_STATS, 1, v, cb, ud);
}
