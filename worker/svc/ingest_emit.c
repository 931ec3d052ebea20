/* The events of ingestion runs (protocol/ingest_events.h), published
 * through svc->publish on the channels that header lists. Progress of a
 * kind is sent at most once per ingest.progress_interval per upload; the
 * last one of a stage is always sent (force). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/apiv1.h"
#include "protocol/monitor.h"
#include "protocol/socketio.h"
#include "protocol/webhook.h"
#include "worker/svc/ingest_internal.h"
#include "worker/svc/store_tasks.h"
#include "worker/svc/svc.h"
#include "worker/svc/webhook.h"

/* Socket.IO project rooms are ring channels "sio:project_<id>" (the
 * prefix of worker/api/socketio.h, which svc may not include). */
#define ROOM_PREFIX "sio:project_"

static void publish(const char *channel, const char *payload)
{
    svc->publish(channel, strlen(channel), payload, strlen(payload));
}

/* On the channel base and, with a key, on "base:key"; frees payload. */
void emit_two(const char *base, const char *key, char *payload)
{
    if (!payload) return;
    publish(base, payload);
    char ch[256];
    if (key && ingest_channel(ch, sizeof ch, base, key) > 0) publish(ch, payload);
    free(payload);
}

static void emit_task_channel(int64_t task_id, char *payload)
{
    if (!payload) return;
    char id[24], ch[64];
    snprintf(id, sizeof id, "%lld", (long long)task_id);
    if (ingest_channel(ch, sizeof ch, "task", id) > 0) publish(ch, payload);
    free(payload);
}

static void emit_sio(const char *project_id, const char *event, json_t *data)
{
    if (!project_id || !data) {
        json_decref(data);
        return;
    }
    char ch[128];
    snprintf(ch, sizeof ch, ROOM_PREFIX "%s", project_id);
    char *pkt = sio_event(event, data);
    json_decref(data);
    if (pkt) publish(ch, pkt);
    free(pkt);
}

/* Overall progress: extraction 0..0.5, chunking 0.5..0.6, indexing 0.6..1. */
static double run_progress(const ingest_run_t *r)
{
    if (strcmp(r->status, "extracting") == 0)
        return r->pages_total ? 0.5 * r->pages_done / r->pages_total : 0;
    if (strcmp(r->status, "chunking") == 0)
        return 0.5 + (r->text_bytes ? 0.1 * r->chunked_bytes / r->text_bytes : 0);
    if (strcmp(r->status, "indexing") == 0)
        return 0.6 + (r->n_chunks ? 0.4 * r->written / r->n_chunks : 0);
    return strcmp(r->status, "completed") == 0 ? 1 : 0;
}

void emit_view(const ingest_run_t *r, ingest_task_view_t *v)
{
    *v = (ingest_task_view_t){.id = r->id,
                              .upload_id = r->upload_id,
                              .filename = r->filename,
                              .collection = r->collection,
                              .status = r->status,
                              .progress = run_progress(r),
                              .document_id = r->document_id,
                              .content_type = r->content_type,
                              .size_bytes = r->size_bytes,
                              .pages = r->pages_total,
                              .pages_done = r->pages_done,
                              .chunks = r->written,
                              .attempts = r->attempt,
                              .error = r->error[0] ? r->error : NULL,
                              .created_at = r->created_at,
                              .started_at = r->started_at};
}

void emit_task_update(const ingest_task_view_t *v)
{
    char *p = ingest_task_update(v);
    if (!p) return;
    publish(INGEST_CH_TASKS, p);
    emit_task_channel(v->id, p);
}

void emit_run_update(ingest_run_t *r)
{
    ingest_task_view_t v;
    emit_view(r, &v);
    r->last_ev_ms[EV_TASK] = loop_now_ms(svc->loop);
    emit_task_update(&v);
}

void emit_task_log(int64_t task_id, const char *level, const char *message)
{
    char ts[40];
    monitor_timestamp(ts, sizeof ts);
    emit_task_channel(task_id, ingest_task_log(task_id, level, message, ts));
}

/* indexing_progress on /api/v1/ws and, with a project, document_status. */
static void emit_indexing(const ingest_run_t *r, const char *stage, double progress)
{
    char *p = ingest_indexing_progress(r->document_id, r->filename, stage, progress);
    if (p) publish(APIV1_CHANNEL, p);
    free(p);
    emit_sio(r->project_id, "document_status",
             ingest_sio_document_status(r->document_id, r->filename, "processing", progress * 100));
}

void emit_progress(ingest_run_t *r, enum run_event ev, int force)
{
    uint64_t now = loop_now_ms(svc->loop);
    if (!force && r->last_ev_ms[ev] && now - r->last_ev_ms[ev] < svc->cfg->ingest_progress_ms)
        return;
    r->last_ev_ms[ev] = now;
    if (ev == EV_TASK) {
        emit_run_update(r);
        return;
    }
    char *p = NULL;
    if (ev == EV_PROCESSING) {
        double f = r->pages_total ? (double)r->pages_done / r->pages_total : 0;
        if (force && r->phase >= PH_CHUNK) f = 1;
        p = ingest_processing_progress(r->upload_id, r->filename, r->stage, f, r->message);
        emit_indexing(r, r->stage, run_progress(r));
    } else if (ev == EV_CHUNKING) {
        /* The total is known at the end; meanwhile an estimate from the
         * bytes chunked so far. */
        uint64_t total = r->n_chunks;
        if (r->chunk_page < r->n_pages && r->chunked_bytes)
            total = (uint64_t)((double)r->n_chunks * r->text_bytes / r->chunked_bytes);
        p = ingest_chunking_progress(r->upload_id, r->filename, r->n_chunks, total);
        emit_indexing(r, "chunking", run_progress(r));
    } else {
        p = ingest_embedding_progress(r->upload_id, r->filename, r->written, r->n_chunks);
        emit_indexing(r, "indexing", run_progress(r));
    }
    if (r->upload_id)
        emit_two(INGEST_CH_UPLOAD, r->upload_id, p);
    else
        free(p);
}

static void notify_end(const ingest_task_view_t *v, const char *outcome)
{
    char ts[40], msg[512];
    monitor_timestamp(ts, sizeof ts);
    int failed = strcmp(outcome, "failed") == 0;
    if (!failed && strcmp(outcome, "cancelled") == 0) return;
    if (failed)
        snprintf(msg, sizeof msg, "Task %lld (%s) failed: %s", (long long)v->id,
                 v->filename ? v->filename : "?", v->error ? v->error : "unknown error");
    else
        snprintf(msg, sizeof msg, "Task %lld (%s) completed", (long long)v->id,
                 v->filename ? v->filename : "?");
    char *p = ingest_notification(ts, failed ? "error" : "info",
                                  failed ? "task_failed" : "task_completed", msg, v->id);
    if (p) publish(INGEST_CH_DASHBOARD, p);
    free(p);
    char *data = webhook_task_data(v->id, v->filename, v->collection, failed ? v->error : NULL);
    if (data) webhook_emit(failed ? "task_failed" : "task_completed", data);
    free(data);
}

void emit_end(const ingest_task_view_t *end, const char *upload_id, const char *project_id,
              double total_time, const char *outcome)
{
    /* The last task_update carries its end time, like GET /api/tasks/{id}. */
    ingest_task_view_t fin = *end;
    if (fin.finished_at <= 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        fin.finished_at = (double)now.tv_sec + now.tv_nsec / 1e9;
    }
    const ingest_task_view_t *v = &fin;
    int ok = strcmp(outcome, "success") == 0 || strcmp(outcome, "duplicate") == 0;
    int64_t doc = ok ? v->document_id : 0;
    if (upload_id)
        emit_two(INGEST_CH_UPLOAD, upload_id,
                 ingest_upload_complete(upload_id, v->filename, doc, total_time, v->chunks, outcome,
                                        strcmp(outcome, "failed") == 0 ? v->error : NULL));
    emit_task_update(v);
    notify_end(v, outcome);
    char *p = ingest_indexing_progress(doc, v->filename, ok ? "completed" : outcome, ok ? 1 : 0);
    if (p) publish(APIV1_CHANNEL, p);
    free(p);
    emit_sio(project_id, "document_status",
             ingest_sio_document_status(doc, v->filename, ok ? "completed" : "failed",
                                        ok ? 100 : v->progress * 100));
    if (strcmp(outcome, "success") != 0 || !v->collection) return;
    char ts[40];
    monitor_timestamp(ts, sizeof ts);
    emit_two(INGEST_CH_COLLECTIONS, v->collection,
             ingest_document_added(v->collection, doc, v->filename, v->chunks, ts));
    emit_sio(project_id, "project_update",
             ingest_sio_project_update("document_added", doc, v->filename));
    emit_collection_stats(v->collection);
}

void emit_document_deleted(const char *collection, int64_t document_id, const char *filename,
                           uint64_t chunks, const char *project_id)
{
    char ts[40];
    monitor_timestamp(ts, sizeof ts);
    emit_two(INGEST_CH_COLLECTIONS, collection,
             ingest_document_deleted(collection, document_id, filename, chunks, ts));
    emit_sio(project_id, "project_update",
             ingest_sio_project_update("document_deleted", document_id, filename));
    emit_collection_stats(collection);
}

static void stats_read(void *ud, PGresult *res, const char *err)
{
    (void)err;
    char *collection = ud;
    if (res && PQntuples(res) == 1) {
        const char *last = store_text(res, 0, 3);
        emit_two(INGEST_CH_COLLECTIONS, collection,
                 ingest_collection_stats(collection, (uint64_t)store_int(res, 0, 0),
                                         (uint64_t)store_int(res, 0, 1),
                                         strtod(PQgetvalue(res, 0, 2), NULL), last));
    }
    free(collection);
}

void emit_collection_stats(const char *collection)
{
    char *c = strdup(collection);
    if (c && !store_collection_stats(c, stats_read, c)) free(c);
}
