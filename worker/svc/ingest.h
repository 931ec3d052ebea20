/* The ingestion service: uploads become tasks in PostgreSQL (`tasks`,
 * `task_logs`), any worker of any node claims a queued task with
 * SELECT ... FOR UPDATE SKIP LOCKED and holds a lease it renews, runs it
 * (worker/svc/extract.h, base/chunk.h, batched inserts) and publishes its
 * events (protocol/ingest_events.h) through svc->publish.
 *
 *   queued -> extracting -> chunking -> indexing -> completed | failed | cancelled
 *
 * A task whose lease ran out (its worker died) is claimed again, up to
 * ingest.max_attempts claims, then failed. ingest.max_parallel bounds the
 * tasks running on this node (shm_ingest_reserve). Everything is
 * asynchronous; callbacks run on the loop, never inside the call that
 * queued them. A request handle stays valid until its callback ran or it
 * was detached (the caller went away). */
#ifndef RAGWS_WORKER_SVC_INGEST_H
#define RAGWS_WORKER_SVC_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/ingest_events.h"

/* Start the queue poller (ingest.poll_interval) on svc->loop; stop it and
 * cancel running tasks (their leases lapse and another worker takes them). */
int ingest_start(void);
void ingest_stop(void);

/* A ring record on INGEST_CH_CONTROL (cancel requests, wake-ups). */
void ingest_on_control(const char *payload, size_t len);

typedef struct ingest_req ingest_req_t;
void ingest_req_detach(ingest_req_t *r);

/* An uploaded file, complete on disk at path (the task removes it when it
 * ends). Strings are copied before the call returns. */
typedef struct ingest_upload {
    const char *upload_id;
    const char *collection;   /* created when missing */
    const char *filename;     /* as the client named it (UTF-8) */
    const char *content_type; /* declared, may be NULL */
    const char *path;
    uint64_t size_bytes;
    const char *sha256_hex; /* of the content: re-uploads are not duplicated */
    const char *project_id; /* Socket.IO project (document_status), may be NULL */
    const char *owner;      /* JWT sub, may be NULL */
} ingest_upload_t;

/* Queue the task. cb gets the task id, or task_id 0 with an error code
 * (STORAGE_UNAVAILABLE ...) and message. NULL when storage is unavailable
 * right now (cb never called). */
ingest_req_t *ingest_submit(const ingest_upload_t *u,
                            void (*cb)(void *ud, int64_t task_id, const char *code,
                                       const char *message),
                            void *ud);

/* A task log line as the dashboards show it. */
typedef struct ingest_log_view {
    const char *level;
    const char *message;
    const char *timestamp; /* ISO 8601 */
} ingest_log_view_t;

/* The tasks not finished (queued and running), oldest first, at most
 * limit. tasks NULL with an error when storage failed. */
ingest_req_t *ingest_list_active(size_t limit,
                                 void (*cb)(void *ud, const ingest_task_view_t *tasks, size_t n,
                                            const char *error),
                                 void *ud);

/* One task and its last log lines (at most log_limit, oldest first); task
 * NULL and error NULL: no such task. */
ingest_req_t *ingest_lookup(int64_t task_id, size_t log_limit,
                            void (*cb)(void *ud, const ingest_task_view_t *task,
                                       const ingest_log_view_t *logs, size_t nlogs,
                                       const char *error),
                            void *ud);

#endif
