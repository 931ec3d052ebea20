/* Ingestion events: see protocol/ingest_events.h. Texts go in as strict
 * jansson strings (json_string refuses invalid UTF-8), so a bad argument
 * makes json_pack fail and the encoder return NULL: nothing half-built is
 * ever sent. */
#include "protocol/ingest_events.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/json_msg.h"
#include "protocol/monitor.h"

#define CHANNEL_NAME_MAX 255

int ingest_channel(char *out, size_t outlen, const char *base, const char *key)
{
    if (!out || !base || !key) return -1;
    int n = snprintf(out, outlen, "%s:%s", base, key);
    if (n < 0 || (size_t)n >= outlen || n > CHANNEL_NAME_MAX) return -1;
    return n;
}

/* Rounded for the wire: 0.5333 rather than 0.53333333333. */
static double round_to(double x, double scale)
{
    if (!isfinite(x)) return 0;
    return round(x * scale) / scale;
}
static double r4(double x) { return round_to(x, 1e4); }
static double r3(double x) { return round_to(x, 1e3); }

static double clamp01(double x)
{
    if (!(x > 0)) return 0; /* also NaN */
    return x > 1 ? 1 : x;
}

/* done/total in 0..1; 0 when the total is not known yet. */
static double ratio(uint64_t done, uint64_t total)
{
    return total ? r4(clamp01((double)done / (double)total)) : 0;
}

static json_t *id_or_null(int64_t id)
{
    return id > 0 ? json_integer((json_int_t)id) : json_null();
}

static json_t *u64(uint64_t v) { return json_integer((json_int_t)v); }

/* Unix seconds (with fractions) as 2024-08-15T10:30:00.123Z; 0 is null. */
static json_t *iso_time(double t)
{
    if (!(t > 0) || !isfinite(t)) return json_null();
    long long total_ms = llround(t * 1000.0); /* 0.123 is 0.12299.. in binary */
    time_t sec = (time_t)(total_ms / 1000);
    long ms = (long)(total_ms % 1000);
    struct tm tm;
    if (!gmtime_r(&sec, &tm)) return json_null();
    char buf[40];
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%03ldZ", ms);
    return json_string(buf);
}

/* {"type":type,"data":data} (data stolen); NULL when data is NULL. */
static char *typed(const char *type, json_t *data)
{
    if (!data) return NULL;
    return json_msg_dump_free(json_pack("{s:s, s:o}", "type", type, "data", data));
}

/* ---- /ws/upload ---- */

char *ingest_upload_started(const char *upload_id, const char *filename, int64_t file_size,
                            double estimated_time)
{
    json_t *size = file_size >= 0 ? json_integer((json_int_t)file_size) : json_null();
    json_t *eta = estimated_time >= 0 ? json_real(r3(estimated_time)) : json_null();
    return typed("upload_started",
                 json_pack("{s:s, s:s, s:o, s:o}", "upload_id", upload_id, "filename", filename,
                           "file_size", size, "estimated_time", eta));
}

char *ingest_upload_progress(const char *upload_id, const char *filename, uint64_t bytes_uploaded,
                             int64_t total_bytes, double speed_mbps)
{
    json_t *total = total_bytes >= 0 ? json_integer((json_int_t)total_bytes) : json_null();
    json_t *progress = json_null();
    if (total_bytes > 0)
        progress = json_real(ratio(bytes_uploaded, (uint64_t)total_bytes));
    else if (total_bytes == 0)
        progress = json_real(1); /* an empty body is all there */
    return typed("upload_progress",
                 json_pack("{s:s, s:s, s:o, s:o, s:o, s:f}", "upload_id", upload_id, "filename",
                           filename, "bytes_uploaded", u64(bytes_uploaded), "total_bytes", total,
                           "progress", progress, "speed_mbps",
                           r3(speed_mbps < 0 ? 0 : speed_mbps)));
}

char *ingest_processing_progress(const char *upload_id, const char *filename, const char *stage,
                                 double progress, const char *message)
{
    return typed("processing_progress",
                 json_pack("{s:s, s:s, s:s, s:f, s:s?}", "upload_id", upload_id, "filename",
                           filename, "stage", stage, "progress", r4(clamp01(progress)), "message",
                           message));
}

/* chunking_progress and embedding_progress: the same shape, other names. */
static char *counted(const char *type, const char *upload_id, const char *filename,
                     const char *done_key, uint64_t done, const char *total_key, uint64_t total)
{
    return typed(type, json_pack("{s:s, s:s, s:o, s:o, s:f}", "upload_id", upload_id, "filename",
                                 filename, done_key, u64(done), total_key, u64(total), "progress",
                                 ratio(done, total)));
}

char *ingest_chunking_progress(const char *upload_id, const char *filename,
                               uint64_t chunks_processed, uint64_t total_chunks)
{
    return counted("chunking_progress", upload_id, filename, "chunks_processed", chunks_processed,
                   "total_chunks", total_chunks);
}

char *ingest_embedding_progress(const char *upload_id, const char *filename,
                                uint64_t embeddings_generated, uint64_t total_embeddings)
{
    return counted("embedding_progress", upload_id, filename, "embeddings_generated",
                   embeddings_generated, "total_embeddings", total_embeddings);
}

char *ingest_upload_complete(const char *upload_id, const char *filename, int64_t document_id,
                             double total_time, uint64_t chunks_created, const char *status,
                             const char *error)
{
    return typed("upload_complete",
                 json_pack("{s:s, s:s, s:o, s:f, s:o, s:s, s:s?}", "upload_id", upload_id,
                           "filename", filename, "document_id", id_or_null(document_id),
                           "total_time", r3(total_time < 0 ? 0 : total_time), "chunks_created",
                           u64(chunks_created), "status", status, "error", error));
}

/* ---- /ws/collections ---- */

/* {"type":type,"collection":collection,"data":data} (data stolen). */
static char *in_collection(const char *type, const char *collection, json_t *data)
{
    if (!data) return NULL;
    return json_msg_dump_free(
        json_pack("{s:s, s:s, s:o}", "type", type, "collection", collection, "data", data));
}

char *ingest_document_added(const char *collection, int64_t document_id, const char *filename,
                            uint64_t chunks_added, const char *timestamp)
{
    return in_collection("document_added", collection,
                         json_pack("{s:o, s:s, s:o, s:s}", "document_id", id_or_null(document_id),
                                   "filename", filename, "chunks_added", u64(chunks_added),
                                   "timestamp", timestamp));
}

char *ingest_document_deleted(const char *collection, int64_t document_id, const char *filename,
                              uint64_t chunks_removed, const char *timestamp)
{
    return in_collection("document_deleted", collection,
                         json_pack("{s:o, s:s?, s:o, s:s}", "document_id", id_or_null(document_id),
                                   "filename", filename, "chunks_removed", u64(chunks_removed),
                                   "timestamp", timestamp));
}

char *ingest_collection_stats(const char *collection, uint64_t total_documents,
                              uint64_t total_chunks, double storage_size_mb,
                              const char *last_updated)
{
    return in_collection("collection_stats", collection,
                         json_pack("{s:o, s:o, s:f, s:s?}", "total_documents", u64(total_documents),
                                   "total_chunks", u64(total_chunks), "storage_size_mb",
                                   r3(storage_size_mb < 0 ? 0 : storage_size_mb), "last_updated",
                                   last_updated));
}

/* ---- /api/v1/ws ---- */

char *ingest_indexing_progress(int64_t document_id, const char *filename, const char *stage,
                               double progress)
{
    return json_msg_dump_free(json_pack("{s:s, s:o, s:s, s:s, s:f}", "type", "indexing_progress",
                                        "document_id", id_or_null(document_id), "filename",
                                        filename, "stage", stage, "progress",
                                        r4(clamp01(progress))));
}

/* ---- Socket.IO ---- */

json_t *ingest_sio_document_status(int64_t document_id, const char *filename, const char *status,
                                   double progress_percent)
{
    double p = progress_percent > 100 ? 100 : progress_percent;
    return json_pack("{s:o, s:s, s:f, s:s}", "document_id", id_or_null(document_id), "status",
                     status, "progress", round_to(p > 0 ? p : 0, 1e2), "filename", filename);
}

json_t *ingest_sio_project_update(const char *type, int64_t document_id, const char *filename)
{
    /* seed 002: {type, data: {document_id, filename}} */
    return json_pack("{s:s, s:{s:o, s:s}}", "type", type, "data", "document_id",
                     id_or_null(document_id), "filename", filename);
}

/* ---- tasks ---- */

json_t *ingest_task_json(const ingest_task_view_t *t)
{
    if (!t || !t->status) return NULL;
    json_t *o =
        json_pack("{s:I, s:I, s:s?, s:s?, s:s?, s:s, s:f, s:o, s:s?, s:o}", "id", (json_int_t)t->id,
                  "task_id", (json_int_t)t->id, "upload_id", t->upload_id, "filename", t->filename,
                  "collection", t->collection, "status", t->status, "progress",
                  r4(clamp01(t->progress)), "document_id", id_or_null(t->document_id),
                  "content_type", t->content_type, "size_bytes", u64(t->size_bytes));
    if (!o) return NULL;
    json_t *rest =
        json_pack("{s:I, s:I, s:o, s:I, s:s?, s:o, s:o, s:o}", "pages", (json_int_t)t->pages,
                  "pages_done", (json_int_t)t->pages_done, "chunks", u64(t->chunks), "attempts",
                  (json_int_t)t->attempts, "error", t->error, "created_at", iso_time(t->created_at),
                  "started_at", iso_time(t->started_at), "finished_at", iso_time(t->finished_at));
    if (!rest || json_object_update(o, rest) != 0) {
        json_decref(rest);
        json_decref(o);
        return NULL;
    }
    json_decref(rest);
    return o;
}

char *ingest_task_update(const ingest_task_view_t *t)
{
    json_t *task = ingest_task_json(t);
    if (!task) return NULL;
    return json_msg_dump_free(json_pack("{s:s, s:o}", "type", "task_update", "task", task));
}

char *ingest_active_tasks(const ingest_task_view_t *tasks, size_t n)
{
    json_t *arr = json_array();
    if (!arr) return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *task = ingest_task_json(&tasks[i]);
        if (!task || json_array_append_new(arr, task) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return json_msg_dump_free(json_pack("{s:s, s:o}", "type", "active_tasks", "tasks", arr));
}

char *ingest_task_log(int64_t task_id, const char *level, const char *message,
                      const char *timestamp)
{
    char now[40];
    if (!timestamp) {
        monitor_timestamp(now, sizeof now);
        timestamp = now;
    }
    return json_msg_dump_free(json_pack("{s:s, s:I, s:s, s:s, s:s}", "type", "task_log", "task_id",
                                        (json_int_t)task_id, "level", level, "message", message,
                                        "timestamp", timestamp));
}

/* ---- /ws/dashboard and /ws/metrics ---- */

/* Every figure: dashboard_update and metrics show the same object, so two
 * dashboards never disagree about a number they both show. */
static json_t *figures_json(const ingest_figures_t *f)
{
    json_t *o = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:f, s:f}", "active_tasks", u64(f->active_tasks), "queued_tasks",
        u64(f->queued_tasks), "completed_tasks", u64(f->completed_tasks), "failed_tasks",
        u64(f->failed_tasks), "cancelled_tasks", u64(f->cancelled_tasks), "tasks_per_minute",
        r3(f->tasks_per_minute), "average_task_seconds", r3(f->average_task_seconds));
    json_t *rest =
        json_pack("{s:o, s:o, s:o, s:o, s:o}", "pages_processed", u64(f->pages_processed), "errors",
                  u64(f->errors), "queue_length", u64(f->queue_length), "workers_busy",
                  u64(f->workers_busy), "max_parallel", u64(f->max_parallel));
    if (!o || !rest || json_object_update(o, rest) != 0) {
        json_decref(o);
        o = NULL;
    }
    json_decref(rest);
    return o;
}

static char *timed(const char *type, const char *timestamp, json_t *data)
{
    if (!data) return NULL;
    return json_msg_dump_free(
        json_pack("{s:s, s:s, s:o}", "type", type, "timestamp", timestamp, "data", data));
}

char *ingest_dashboard_update(const char *timestamp, const ingest_figures_t *f)
{
    return f ? timed("dashboard_update", timestamp, figures_json(f)) : NULL;
}

char *ingest_metrics(const char *timestamp, const ingest_figures_t *f)
{
    return f ? timed("metrics", timestamp, figures_json(f)) : NULL;
}

char *ingest_notification(const char *timestamp, const char *level, const char *event,
                          const char *message, int64_t task_id)
{
    return timed("notification", timestamp,
                 json_pack("{s:s, s:s, s:s, s:o}", "level", level, "event", event, "message",
                           message, "task_id", id_or_null(task_id)));
}

/* ---- worker to worker ---- */

char *ingest_control(const char *op, int64_t task_id)
{
    if (!op) return NULL;
    if (strcmp(op, "cancel") == 0)
        return task_id > 0 ? json_msg_dump_free(
                                 json_pack("{s:s, s:I}", "op", op, "task_id", (json_int_t)task_id))
                           : NULL;
    if (strcmp(op, "wake") == 0) return json_msg_dump_free(json_pack("{s:s}", "op", op));
    return NULL;
}

int ingest_control_parse(const char *payload, size_t len, char *op, size_t opsize, int64_t *task_id)
{
    if (!payload || !op || opsize == 0) return -1;
    json_t *v = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
    const char *o = json_string_value(json_object_get(v, "op"));
    json_t *id = json_object_get(v, "task_id");
    int rc = -1;
    int64_t tid = 0;
    if (o && strcmp(o, "cancel") == 0 && json_is_integer(id) && json_integer_value(id) > 0) {
        tid = (int64_t)json_integer_value(id);
        rc = 0;
    } else if (o && strcmp(o, "wake") == 0) {
        rc = 0;
    }
    if (rc == 0 && strlen(o) >= opsize) rc = -1;
    if (rc == 0) {
        memcpy(op, o, strlen(o) + 1);
        if (task_id) *task_id = tid;
    }
    json_decref(v);
    return rc;
}
