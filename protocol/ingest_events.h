/* Ingestion events (SPEC S4.1, S4.2, S4.4, S4.7, S4.9; seeds 000 and 004):
 * every JSON message the upload, collections and dashboard endpoints send,
 * encoded once and published into the ring. Each encoder returns a
 * malloc'd NUL-terminated text (caller frees), or NULL when out of memory
 * or a text argument is not valid UTF-8 (then nothing is to be sent).
 * Text arguments may be NULL where a comment says so (encoded as null).
 *
 * Channels. An event is published on the general channel of its kind and,
 * where clients may filter, also on the filtered channel, so a filtered
 * subscriber is one channel subscription like any other:
 *
 *   /ws/upload                 INGEST_CH_UPLOAD,      ?upload_id=X   "upload:X"
 *   /ws/collections            INGEST_CH_COLLECTIONS, ?collection=X  "collections:X"
 *   /ws/dashboard              INGEST_CH_DASHBOARD (dashboard_update, notification)
 *   /ws/active-tasks           INGEST_CH_TASKS (task_update of every task)
 *   /ws/task/{id}              "task:ID" (task_update and task_log of that task)
 *   /ws/metrics                INGEST_CH_METRICS
 *   /api/v1/ws                 APIV1_CHANNEL (protocol/apiv1.h): indexing_progress
 *   Socket.IO project room     "sio:project_ID": document_status, project_update
 *   workers among themselves   INGEST_CH_CONTROL (cancel requests, queue wake-ups;
 *                              never delivered to a client)
 *
 * ingest_channel() writes a filtered channel name. */
#ifndef RAGWS_PROTOCOL_INGEST_EVENTS_H
#define RAGWS_PROTOCOL_INGEST_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define INGEST_CH_UPLOAD      "upload"
#define INGEST_CH_COLLECTIONS "collections"
#define INGEST_CH_DASHBOARD   "dashboard"
#define INGEST_CH_TASKS       "tasks"
#define INGEST_CH_TASK_PREFIX "task:"
#define INGEST_CH_METRICS     "metrics"
#define INGEST_CH_CONTROL     "ingest-control"

/* "<base>:<key>" into out; its length, or -1 when it does not fit
 * (channel names are at most 255 bytes). */
int ingest_channel(char *out, size_t outlen, const char *base, const char *key);

/* ---- /ws/upload (seed 004: {"type":..,"data":{upload_id, filename, ...}}) ---- */

/* file_size < 0: unknown (chunked body), encoded as null; estimated_time
 * in seconds, < 0 for null. */
char *ingest_upload_started(const char *upload_id, const char *filename, int64_t file_size,
                            double estimated_time);
/* total_bytes < 0: unknown (null; progress is then null too). */
char *ingest_upload_progress(const char *upload_id, const char *filename, uint64_t bytes_uploaded,
                             int64_t total_bytes, double speed_mbps);
/* stage: "text_extraction", "ocr", "queued" ...; progress 0..1. */
char *ingest_processing_progress(const char *upload_id, const char *filename, const char *stage,
                                 double progress, const char *message);
char *ingest_chunking_progress(const char *upload_id, const char *filename,
                               uint64_t chunks_processed, uint64_t total_chunks);
char *ingest_embedding_progress(const char *upload_id, const char *filename,
                                uint64_t embeddings_generated, uint64_t total_embeddings);
/* status: "success", "duplicate", "failed" or "cancelled"; document_id <= 0
 * is null; error NULL unless failed. */
char *ingest_upload_complete(const char *upload_id, const char *filename, int64_t document_id,
                             double total_time, uint64_t chunks_created, const char *status,
                             const char *error);

/* ---- /ws/collections (seed 004: {"type","collection","data":{..}}) ---- */

/* timestamp: ISO 8601 UTC (protocol/monitor.h monitor_timestamp). */
char *ingest_document_added(const char *collection, int64_t document_id, const char *filename,
                            uint64_t chunks_added, const char *timestamp);
char *ingest_document_deleted(const char *collection, int64_t document_id, const char *filename,
                              uint64_t chunks_removed, const char *timestamp);
char *ingest_collection_stats(const char *collection, uint64_t total_documents,
                              uint64_t total_chunks, double storage_size_mb,
                              const char *last_updated);

/* ---- /api/v1/ws (S4.1) ---- */

/* {"type":"indexing_progress","document_id":..,"filename":..,"stage":..,"progress":0..1};
 * document_id <= 0 is null (not created yet). */
char *ingest_indexing_progress(int64_t document_id, const char *filename, const char *stage,
                               double progress);

/* ---- Socket.IO (seed 002), the `data` objects of the events ---- */

/* document_status data: {"document_id","status":"processing|completed|failed",
 * "progress":0..100, "filename"}; new reference. */
json_t *ingest_sio_document_status(int64_t document_id, const char *filename, const char *status,
                                   double progress_percent);
/* project_update data (seed 002): {"type":"document_added|document_deleted",
 * "data":{"document_id","filename"}}. */
json_t *ingest_sio_project_update(const char *type, int64_t document_id, const char *filename);

/* ---- tasks (S4.2, seed 000) ---- */

/* A task as every dashboard message shows it. Times are Unix seconds with
 * fractions, 0 for not yet (null). */
typedef struct ingest_task_view {
    int64_t id;
    const char *upload_id;  /* may be NULL */
    const char *filename;   /* may be NULL */
    const char *collection; /* may be NULL */
    const char *status;     /* queued|extracting|chunking|indexing|completed|failed|cancelled */
    double progress;        /* 0..1 */
    int64_t document_id;    /* <= 0: null */
    const char *content_type;
    uint64_t size_bytes;
    uint32_t pages;      /* 0: unknown */
    uint32_t pages_done; /* pages extracted so far */
    uint64_t chunks;
    uint32_t attempts;
    const char *error; /* NULL unless failed */
    double created_at, started_at, finished_at;
} ingest_task_view_t;

/* The task object itself (new reference), for REST answers too. */
json_t *ingest_task_json(const ingest_task_view_t *t);
/* {"type":"task_update","task":{..}} */
char *ingest_task_update(const ingest_task_view_t *t);
/* {"type":"active_tasks","tasks":[..]} */
char *ingest_active_tasks(const ingest_task_view_t *tasks, size_t n);
/* {"type":"task_log","task_id","level","message","timestamp"} */
char *ingest_task_log(int64_t task_id, const char *level, const char *message,
                      const char *timestamp);

/* ---- /ws/dashboard and /ws/metrics (computed by the master) ---- */

typedef struct ingest_figures {
    uint64_t active_tasks; /* extracting, chunking or indexing */
    uint64_t queued_tasks;
    uint64_t completed_tasks; /* all time, from the tasks table */
    uint64_t failed_tasks;
    uint64_t cancelled_tasks;
    double tasks_per_minute;     /* completed over the last minute */
    double average_task_seconds; /* of tasks finished over the last minute, 0 for none */
    uint64_t pages_processed;    /* since the server started */
    uint64_t errors;             /* tasks failed since the server started */
    uint64_t queue_length;       /* = queued_tasks */
    uint64_t workers_busy;       /* workers running at least one task */
    uint64_t max_parallel;
} ingest_figures_t;

/* {"type":"dashboard_update","timestamp","data":{active_tasks, queued_tasks,
 * completed_tasks, failed_tasks, cancelled_tasks, tasks_per_minute, ...}} */
char *ingest_dashboard_update(const char *timestamp, const ingest_figures_t *f);
/* {"type":"metrics","timestamp","data":{tasks_per_minute, average_task_seconds,
 * pages_processed, errors, queue_length, ...}} */
char *ingest_metrics(const char *timestamp, const ingest_figures_t *f);
/* {"type":"notification","timestamp","data":{"level","event","message","task_id"}};
 * event: task_completed | task_failed | threshold_exceeded; task_id <= 0 is null. */
char *ingest_notification(const char *timestamp, const char *level, const char *event,
                          const char *message, int64_t task_id);

/* ---- worker to worker (INGEST_CH_CONTROL) ---- */

/* {"op":"cancel","task_id":N} or {"op":"wake"}; parsed back by
 * ingest_control_parse (op copied into op[opsize]). 0, or -1 when the
 * payload is not one of these. */
char *ingest_control(const char *op, int64_t task_id);
int ingest_control_parse(const char *payload, size_t len, char *op, size_t opsize,
                         int64_t *task_id);

#endif
