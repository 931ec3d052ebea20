/* Operations on ingestion tasks and documents for the REST endpoints
 * (worker/api/rest_tasks.c) and the worker's drain, beside the shared
 * interface worker/svc/ingest.h (same request rules: asynchronous,
 * callbacks from the loop, a handle valid until its callback ran or
 * ingest_req_detach; NULL when storage is unavailable, cb never called).
 * Views and texts handed to callbacks are valid only during the call. */
#ifndef RAGWS_WORKER_SVC_INGEST_OPS_H
#define RAGWS_WORKER_SVC_INGEST_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "worker/svc/ingest.h"

/* Tasks this worker is running (a drain waits for them, up to
 * server.drain_timeout; the rest are abandoned, their leases lapse and
 * another worker takes them again). */
unsigned ingest_local_running(void);

/* Tasks newest first, at most limit; status NULL (all), "active" (not
 * finished) or one status. tasks NULL with error when storage failed. */
ingest_req_t *ingest_list(const char *status, size_t limit,
                          void (*cb)(void *ud, const ingest_task_view_t *tasks, size_t n,
                                     const char *error),
                          void *ud);

/* Cancels a task that is not finished. outcome: "cancelled" (task is the
 * task, now cancelled), "finished" (it had ended: task as it is), NULL
 * with task NULL: no such task, or with error: storage failed. A running
 * task's worker is told through INGEST_CH_CONTROL and drops its partial
 * rows; a queued one is ended here (file removed, events sent). */
ingest_req_t *ingest_cancel(int64_t task_id,
                            void (*cb)(void *ud, const char *outcome,
                                       const ingest_task_view_t *task, const char *error),
                            void *ud);

/* Deletes a document and its chunks, then publishes document_deleted and
 * collection_stats (project_update when it came with a project).
 * found 0 (error NULL): no such document. */
ingest_req_t *ingest_delete_document(int64_t document_id,
                                     void (*cb)(void *ud, int found, uint64_t chunks_removed,
                                                const char *error),
                                     void *ud);

#endif
