/* The ingestion queue's storage: every SQL statement of tasks, task logs,
 * the documents and chunks that ingestion writes and deletes, and the
 * collection figures, as typed calls on io/pg.h (like worker/svc/store.h,
 * whose rules hold here: one statement per call, the request or NULL when
 * PostgreSQL is unavailable, string arguments copied, a NULL callback
 * allowed).
 *
 * Statements that return tasks return the STORE_TASK_* columns below;
 * store_task_row() reads one row into a view whose strings point into the
 * result (valid only inside the callback).
 *
 * A run is identified by (task id, lease owner, attempt): a worker that
 * lost its lease (another worker claimed the task again) can no longer
 * change the task. */
#ifndef RAGWS_WORKER_SVC_STORE_TASKS_H
#define RAGWS_WORKER_SVC_STORE_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "io/pg.h"
#include "protocol/ingest_events.h"

/* Column positions of a task row. */
enum {
    STORE_TASK_ID,
    STORE_TASK_UPLOAD_ID,
    STORE_TASK_FILENAME,
    STORE_TASK_COLLECTION,
    STORE_TASK_STATUS,
    STORE_TASK_PROGRESS,
    STORE_TASK_DOCUMENT_ID,
    STORE_TASK_CONTENT_TYPE,
    STORE_TASK_SIZE_BYTES,
    STORE_TASK_PAGES,
    STORE_TASK_PAGES_DONE,
    STORE_TASK_CHUNKS,
    STORE_TASK_ATTEMPTS,
    STORE_TASK_ERROR,
    STORE_TASK_CREATED_AT,
    STORE_TASK_STARTED_AT,
    STORE_TASK_FINISHED_AT,
    STORE_TASK_PATH,
    STORE_TASK_CONTENT_HASH,
    STORE_TASK_PROJECT_ID,
    STORE_TASK_COLLECTION_ID,
    STORE_TASK_NCOLS, /* statements may add columns after these */
};

/* The view of row `row` (strings into res; NULL columns are NULL). */
void store_task_row(const PGresult *res, int row, ingest_task_view_t *v);
/* A column as text (NULL when SQL NULL) or as a number (0 when NULL). */
const char *store_text(const PGresult *res, int row, int col);
int64_t store_int(const PGresult *res, int row, int col);

/* Statuses of a task some worker runs. */
#define STORE_RUNNING_STATUSES "'extracting', 'chunking', 'indexing'"

/* ---- the queue ---- */

/* A new queued task; the collection is created when missing. Row: id. */
db_req_t *store_task_submit(const char *upload_id, const char *collection, const char *filename,
                            const char *content_type, const char *path, uint64_t size_bytes,
                            const char *sha256_hex, const char *project_id, const char *owner,
                            db_result_cb cb, void *ud);

/* Claims the oldest queued task, or the oldest running one whose lease
 * ran out, for lease_owner (attempts + 1, status extracting, lease for
 * lease_ms). One that was already claimed max_attempts times is failed
 * instead ("worker died N times while running it"): its row then says
 * status failed. No row: nothing to claim. Row: a task. */
db_req_t *store_task_claim(const char *lease_owner, uint32_t lease_ms, uint32_t max_attempts,
                           db_result_cb cb, void *ud);

/* Renews the lease of a run. Row: one text: the task's status when the
 * run still holds it ("extracting" ... or "cancelled"), "lost" when
 * another run holds it, "gone" when the task no longer exists. */
db_req_t *store_task_renew(int64_t id, const char *lease_owner, uint32_t attempt, uint32_t lease_ms,
                           db_result_cb cb, void *ud);

/* Status (extracting | chunking | indexing), stage and figures of a run
 * (ignored once it no longer holds the task or it was cancelled). */
typedef struct store_progress {
    const char *status;
    const char *stage; /* may be NULL */
    double progress;   /* 0..1 */
    uint32_t pages, pages_done;
    uint64_t chunks;
} store_progress_t;
db_req_t *store_task_progress(int64_t id, const char *lease_owner, uint32_t attempt,
                              const store_progress_t *p, db_result_cb cb, void *ud);

/* One log line of a task. */
db_req_t *store_task_log(int64_t id, const char *level, const char *message, db_result_cb cb,
                         void *ud);

/* The end of a run: status completed | failed | cancelled, error (NULL
 * unless failed), document_id (> 0: the task's document, e.g. the
 * existing one of a duplicate; 0: keep), chunks. A failed or cancelled
 * task's partial document (not indexed) is deleted with its chunks; a
 * completed one's document becomes 'indexed'. A run that lost the task
 * changes nothing, except that a cancelled task is always finished (its
 * partial rows dropped). Row: one int, 1 when the task row changed. */
db_req_t *store_task_finish(int64_t id, const char *lease_owner, uint32_t attempt,
                            const char *status, const char *error, int64_t document_id,
                            uint64_t chunks, db_result_cb cb, void *ud);

/* Deletes the task's document unless it is indexed (the partial rows of
 * an earlier attempt). */
db_req_t *store_task_drop_partial(int64_t id, db_result_cb cb, void *ud);

/* Counts of the tasks table by state. Row: queued, active (running),
 * completed, failed, cancelled. */
db_req_t *store_task_counts(db_result_cb cb, void *ud);

/* Tasks, newest first, at most limit: status NULL for all, "active" for
 * those not finished, else that status. Rows: tasks. */
db_req_t *store_task_list(const char *status, uint32_t limit, db_result_cb cb, void *ud);
/* The unfinished tasks, oldest first, at most limit. Rows: tasks. */
db_req_t *store_task_list_active(uint32_t limit, db_result_cb cb, void *ud);
/* One task and its last log_limit log lines, oldest first: one row per
 * line (a task, then level, message, timestamp ISO 8601 UTC), or one
 * row with NULL log columns when it has none; no row: no such task. */
#define STORE_LOG_LEVEL STORE_TASK_NCOLS
db_req_t *store_task_get(int64_t id, uint32_t log_limit, db_result_cb cb, void *ud);

/* Marks a task that is not finished cancelled. Row: a task, then
 * "cancelled" (it was cancelled now) or "finished" (it had ended), then
 * 1 when no run holds it (it was queued, or its lease ran out): the
 * caller then ends it itself. No row: no such task. */
db_req_t *store_task_cancel(int64_t id, db_result_cb cb, void *ud);

/* ---- documents and chunks ---- */

/* The task's document, status 'processing'. Row: document_id, then 1
 * when the collection already holds a document with this content hash
 * (document_id is that one's, nothing was inserted). No row: a
 * concurrent insert of the same content is not visible yet (retry). */
typedef struct store_doc {
    int64_t task_id, collection_id;
    const char *filename, *content_type, *content_hash, *upload_id, *project_id;
    uint64_t size_bytes;
    uint32_t chunk_chars, chunk_overlap;
} store_doc_t;
db_req_t *store_document_start(const store_doc_t *d, db_result_cb cb, void *ud);

/* Chunks first_ordinal, first_ordinal + 1 ... of a document, in one
 * statement (unnest of two arrays). pages[i] 0: no page (NULL). */
db_req_t *store_chunks_insert(int64_t document_id, int64_t collection_id, uint32_t first_ordinal,
                              const uint32_t *pages, const char *const *texts, const size_t *lens,
                              size_t n, db_result_cb cb, void *ud);

/* Deletes a document and its chunks. Row: document_id, collection,
 * filename, chunks removed, project_id (may be NULL); no row: none. */
db_req_t *store_document_delete(int64_t id, db_result_cb cb, void *ud);

/* Figures of a collection. Row: total_documents, total_chunks,
 * storage_size_mb, last_updated (ISO 8601 UTC); no row: none. */
db_req_t *store_collection_stats(const char *collection, db_result_cb cb, void *ud);

#endif
