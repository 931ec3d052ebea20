/* Inside the ingestion service (worker/svc/ingest*.c): one run of a
 * claimed task and what its files share. Not for other modules.
 *
 *   ingest.c        start/stop, the poller and the claim, control
 *                   messages, submit, the dashboards' reads
 *   ingest_run.c    one run: document, extraction, chunking, indexing, end
 *   ingest_emit.c   the events of a run (rate-limited progress)
 *   ingest_ops.c    REST operations (list, get, cancel, delete document)
 *
 * A run is owned by the list in ingest.c from its claim until it ends
 * (run_end frees it after its final statement was queued). Strings are
 * its own copies. At most one statement with a callback into the run is
 * in flight besides the lease renewal (main_req, renew_req); both are
 * detached before the run is freed. */
#ifndef RAGWS_WORKER_SVC_INGEST_INTERNAL_H
#define RAGWS_WORKER_SVC_INGEST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/loop.h"
#include "io/pg.h"
#include "protocol/ingest_events.h"
#include "worker/svc/extract.h"
#include "worker/svc/ingest.h"

enum run_phase { PH_DOCUMENT, PH_EXTRACT, PH_CHUNK, PH_INDEX, PH_FINISH };

/* Progress event kinds, rate-limited one by one. */
enum run_event { EV_PROCESSING, EV_CHUNKING, EV_EMBEDDING, EV_TASK, EV_COUNT };

typedef struct run_page {
    uint32_t number;
    char *text;
    size_t len, cap;
} run_page_t;

typedef struct run_chunk {
    uint32_t page_idx; /* into pages[] */
    size_t start, len;
} run_chunk_t;

typedef struct ingest_run {
    struct ingest_run *next;
    int64_t id, collection_id, document_id;
    uint32_t attempt;
    char *upload_id, *filename, *collection, *content_type, *path, *hash, *project_id;
    uint64_t size_bytes;
    double created_at, started_at;
    uint64_t t0_ms;
    enum run_phase phase;
    const char *status; /* extracting | chunking | indexing (static) */
    char stage[32];     /* extractor stage */
    char message[128];  /* its last human message */
    char outcome[16];   /* at the end: success, duplicate, failed, cancelled */
    char error[256];    /* at the end: why it failed ("" otherwise) */
    uint32_t pages_total, pages_done;
    enum extract_type type;
    extract_job_t *ex;
    db_req_t *main_req, *renew_req;
    loop_timer_t step_timer, renew_timer;
    /* the text, page by page (bounded by ingest.max_extract_bytes) */
    run_page_t *pages;
    size_t n_pages, pages_cap, text_bytes;
    /* chunking: cursor (page, byte offset) and the spans found */
    size_t chunk_page, chunk_off, chunked_bytes;
    run_chunk_t *chunks;
    size_t n_chunks, chunks_cap;
    /* indexing */
    size_t written, batch_n;
    uint32_t logs;
    uint64_t last_ev_ms[EV_COUNT];
    uint64_t last_db_ms;
    int dup_retry;
} ingest_run_t;

/* A request of ingest.h / ingest_ops.h: one statement in flight (db),
 * the caller's callback of its kind. Freed after the callback ran or by
 * ingest_req_detach. */
struct ingest_req {
    db_req_t *db;
    void *ud;
    void (*submit_cb)(void *, int64_t, const char *, const char *);
    void (*list_cb)(void *, const ingest_task_view_t *, size_t, const char *);
    void (*lookup_cb)(void *, const ingest_task_view_t *, const ingest_log_view_t *, size_t,
                      const char *);
    void (*cancel_cb)(void *, const char *, const ingest_task_view_t *, const char *);
    void (*delete_cb)(void *, int, uint64_t, const char *);
    char *upload_id, *filename, *collection; /* of a submit, for its first events */
};
void ingest_req_free(ingest_req_t *r);

/* ingest.c: this worker's lease owner name, and the end of a run (the
 * place it held is released, the poller looks for more). */
const char *ingest_owner(void);
void ingest_run_unlink(ingest_run_t *r);
ingest_run_t *ingest_run_find(int64_t task_id);

/* ingest_run.c */
ingest_run_t *run_new(const PGresult *res, int row);
void run_begin(ingest_run_t *r);
/* Cancelled (REST, control message or the lease renewal): the children
 * are killed, the partial rows dropped, the events sent. */
void run_cancel(ingest_run_t *r);
/* Stopped without touching the task (shutdown; its lease lapses). */
void run_abandon(ingest_run_t *r);
void run_free(ingest_run_t *r);
/* A task the claim failed (max_attempts): events, partial rows, file. */
void run_claim_failed(const PGresult *res, int row);

/* ingest_emit.c */
void emit_view(const ingest_run_t *r, ingest_task_view_t *v);
void emit_task_update(const ingest_task_view_t *v);
void emit_run_update(ingest_run_t *r);
void emit_task_log(int64_t task_id, const char *level, const char *message);
/* Progress of a run, at most one per ingest.progress_interval of each
 * kind unless force (the last one of a stage). */
void emit_progress(ingest_run_t *r, enum run_event ev, int force);
/* The end of a task: upload_complete, task_update, notification,
 * document_status; document_added and collection_stats when completed. */
void emit_end(const ingest_task_view_t *v, const char *upload_id, const char *project_id,
              double total_time, const char *outcome);
void emit_document_deleted(const char *collection, int64_t document_id, const char *filename,
                           uint64_t chunks, const char *project_id);
/* collection_stats, once the figures are read. */
void emit_collection_stats(const char *collection);
/* "upload:<id>" etc. */
void emit_two(const char *base, const char *key, char *payload);

#endif
