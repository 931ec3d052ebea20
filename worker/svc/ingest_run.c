/* One run of a claimed task: its document row (or the duplicate it is),
 * extraction (worker/svc/extract.h), chunking in slices across loop
 * iterations, batched chunk inserts, the end; the lease renewed every
 * lease/3 meanwhile. See ingest_internal.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/chunk.h"
#include "base/log.h"
#include "worker/svc/ingest_internal.h"
#include "worker/svc/store_tasks.h"
#include "worker/svc/svc.h"

/* Text chunked per loop iteration: a 50 MB page never holds the loop
 * (256 KiB slices doubled the token latency p99 of queries served beside
 * a 50 MB ingest; 64 KiB costs no throughput, see README "Benchmark"). */
#define CHUNK_SLICE_BYTES (64 * 1024)
/* Log lines one run stores (a child that floods stderr is cut short). */
#define RUN_MAX_LOGS 200

static void run_fail(ingest_run_t *r, const char *error);
static void run_finish(ingest_run_t *r, const char *status, const char *error, const char *outcome);

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

ingest_run_t *run_new(const PGresult *res, int row)
{
    ingest_run_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    ingest_task_view_t v;
    store_task_row(res, row, &v);
    r->id = v.id;
    r->attempt = v.attempts;
    r->collection_id = store_int(res, row, STORE_TASK_COLLECTION_ID);
    r->upload_id = dup_or_null(v.upload_id);
    r->filename = strdup(v.filename ? v.filename : "");
    r->collection = strdup(v.collection ? v.collection : "");
    r->content_type = dup_or_null(v.content_type);
    r->path = dup_or_null(store_text(res, row, STORE_TASK_PATH));
    r->hash = dup_or_null(store_text(res, row, STORE_TASK_CONTENT_HASH));
    r->project_id = dup_or_null(store_text(res, row, STORE_TASK_PROJECT_ID));
    r->size_bytes = v.size_bytes;
    r->created_at = v.created_at;
    r->started_at = v.started_at;
    r->t0_ms = loop_now_ms(svc->loop);
    r->status = "extracting";
    if (!r->filename || !r->collection) {
        run_free(r);
        return NULL;
    }
    return r;
}

void run_free(ingest_run_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_pages; i++) free(r->pages[i].text);
    free(r->pages);
    free(r->chunks);
    free(r->upload_id);
    free(r->filename);
    free(r->collection);
    free(r->content_type);
    free(r->path);
    free(r->hash);
    free(r->project_id);
    free(r);
}

/* Children killed, statements detached, timers stopped: nothing calls
 * back into r any more. */
static void run_quiesce(ingest_run_t *r)
{
    if (r->ex) extract_cancel(r->ex);
    r->ex = NULL;
    db_detach(r->main_req);
    db_detach(r->renew_req);
    r->main_req = r->renew_req = NULL;
    loop_timer_stop(svc->loop, &r->step_timer);
    loop_timer_stop(svc->loop, &r->renew_timer);
}

void run_abandon(ingest_run_t *r)
{
    run_quiesce(r);
    run_free(r);
}

/* The run no longer holds its task (another worker does): quietly gone,
 * the file left for that worker. */
static void run_lost(ingest_run_t *r, const char *why)
{
    log_warn("ingest: task %lld: %s; left to its new holder", (long long)r->id, why);
    ingest_run_unlink(r);
    run_abandon(r);
}

static void run_log(ingest_run_t *r, const char *level, const char *line)
{
    if (r->logs > RUN_MAX_LOGS) return;
    if (r->logs++ == RUN_MAX_LOGS) {
        level = "warn";
        line = "further log lines of this run are not kept";
    }
    store_task_log(r->id, level, line, NULL, NULL);
    emit_task_log(r->id, level, line);
}

/* The task row's status and figures: at most every progress_interval,
 * unless force (a change of status). */
static void run_store_progress(ingest_run_t *r, int force)
{
    uint64_t now = loop_now_ms(svc->loop);
    if (!force && now - r->last_db_ms < svc->cfg->ingest_progress_ms) return;
    r->last_db_ms = now;
    ingest_task_view_t v;
    emit_view(r, &v);
    store_progress_t p = {.status = r->status,
                          .stage = r->stage[0] ? r->stage : NULL,
                          .progress = v.progress,
                          .pages = r->pages_total,
                          .pages_done = r->pages_done,
                          .chunks = r->written};
    store_task_progress(r->id, ingest_owner(), r->attempt, &p, NULL, NULL);
}

static void run_set_status(ingest_run_t *r, const char *status)
{
    r->status = status;
    run_store_progress(r, 1);
    emit_run_update(r);
}

/* ---- the lease ---- */

static void renew_tick(loop_t *loop, loop_timer_t *t);

static void renewed(void *ud, PGresult *res, const char *err)
{
    ingest_run_t *r = ud;
    r->renew_req = NULL;
    const char *st = res && PQntuples(res) == 1 ? store_text(res, 0, 0) : NULL;
    if (!st) {
        log_warn("ingest: task %lld: lease renewal failed (%s)", (long long)r->id,
                 err ? err : "no answer");
    } else if (strcmp(st, "cancelled") == 0) {
        run_cancel(r);
        return;
    } else if (strcmp(st, "lost") == 0 || strcmp(st, "gone") == 0) {
        run_lost(r, strcmp(st, "lost") == 0 ? "lease taken by another worker" : "task deleted");
        return;
    }
    loop_timer_start(svc->loop, &r->renew_timer, svc->cfg->ingest_lease_ms / 3, renew_tick, r);
}

static void renew_tick(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    ingest_run_t *r = t->data;
    r->renew_req =
        store_task_renew(r->id, ingest_owner(), r->attempt, svc->cfg->ingest_lease_ms, renewed, r);
    if (!r->renew_req)
        loop_timer_start(svc->loop, &r->renew_timer, svc->cfg->ingest_lease_ms / 3, renew_tick, r);
}

/* ---- extraction ---- */

static run_page_t *page_for(ingest_run_t *r, uint32_t number)
{
    if (r->n_pages && r->pages[r->n_pages - 1].number == number) return &r->pages[r->n_pages - 1];
    if (r->n_pages == r->pages_cap) {
        size_t cap = r->pages_cap ? r->pages_cap * 2 : 8;
        run_page_t *p = realloc(r->pages, cap * sizeof *p);
        if (!p) return NULL;
        r->pages = p;
        r->pages_cap = cap;
    }
    r->pages[r->n_pages] = (run_page_t){.number = number};
    return &r->pages[r->n_pages++];
}

static int page_append(run_page_t *p, const char *text, size_t len)
{
    if (p->len + len + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + len + 1) cap *= 2;
        char *t = realloc(p->text, cap);
        if (!t) return -1;
        p->text = t;
        p->cap = cap;
    }
    /* PostgreSQL text cannot hold NUL. */
    for (size_t i = 0; i < len; i++) p->text[p->len + i] = text[i] ? text[i] : ' ';
    p->len += len;
    p->text[p->len] = 0;
    return 0;
}

static void on_text(void *ud, uint32_t page, const char *text, size_t len)
{
    ingest_run_t *r = ud;
    if (r->text_bytes + len > svc->cfg->extract_max_bytes) {
        char err[160];
        snprintf(err, sizeof err, "extracted text exceeds ingest.max_extract_bytes (%zu bytes)",
                 svc->cfg->extract_max_bytes);
        run_fail(r, err);
        return;
    }
    run_page_t *p = page_for(r, page);
    if (!p || page_append(p, text, len) < 0) {
        run_fail(r, "out of memory while extracting");
        return;
    }
    r->text_bytes += len;
}

static void on_progress(void *ud, const char *stage, uint32_t done, uint32_t total,
                        const char *message)
{
    ingest_run_t *r = ud;
    snprintf(r->stage, sizeof r->stage, "%s", stage ? stage : "text_extraction");
    snprintf(r->message, sizeof r->message, "%s", message ? message : "");
    r->pages_done = done;
    r->pages_total = total;
    emit_progress(r, EV_PROCESSING, 0);
    emit_progress(r, EV_TASK, 0);
    run_store_progress(r, 0);
}

static void on_log(void *ud, const char *level, const char *line) { run_log(ud, level, line); }

static void chunk_step(loop_t *loop, loop_timer_t *t);

static void on_done(void *ud, const char *error, uint32_t pages, enum extract_type type)
{
    ingest_run_t *r = ud;
    r->ex = NULL; /* the job frees itself */
    if (error) {
        run_fail(r, error);
        return;
    }
    r->type = type;
    r->pages_total = r->pages_done = pages;
    stats_add(&svc->stats->ingest_pages, pages);
    snprintf(r->message, sizeof r->message, "Extracted %u page%s", pages, pages == 1 ? "" : "s");
    emit_progress(r, EV_PROCESSING, 1);
    r->phase = PH_CHUNK;
    run_set_status(r, "chunking");
    loop_timer_start(svc->loop, &r->step_timer, 0, chunk_step, r);
}

static void run_extract(ingest_run_t *r)
{
    extract_callbacks_t cb = {.ud = r,
                              .on_text = on_text,
                              .on_progress = on_progress,
                              .on_log = on_log,
                              .on_done = on_done};
    char err[256] = "";
    r->phase = PH_EXTRACT;
    snprintf(r->stage, sizeof r->stage, "text_extraction");
    snprintf(r->message, sizeof r->message, "Extracting text");
    emit_progress(r, EV_PROCESSING, 1);
    r->ex =
        extract_start(r->path ? r->path : "", r->filename, r->content_type, &cb, err, sizeof err);
    if (!r->ex) run_fail(r, err[0] ? err : "the file could not be read");
}

/* ---- chunking: one slice per loop iteration ---- */

static int chunks_add(ingest_run_t *r, uint32_t page_idx, size_t off, const chunk_span_t *s,
                      size_t n)
{
    if (r->n_chunks + n > r->chunks_cap) {
        size_t cap = r->chunks_cap ? r->chunks_cap : 256;
        while (cap < r->n_chunks + n) cap *= 2;
        run_chunk_t *c = realloc(r->chunks, cap * sizeof *c);
        if (!c) return -1;
        r->chunks = c;
        r->chunks_cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        r->chunks[r->n_chunks++] =
            (run_chunk_t){.page_idx = page_idx, .start = off + s[i].start, .len = s[i].len};
    return 0;
}

/* Chunks of one slice of the current page; the cursor moves on. A slice
 * that is not the page's end keeps all its chunks but the last (cut by
 * the slice's edge): the next slice starts where that one started. */
static int chunk_slice(ingest_run_t *r)
{
    run_page_t *p = &r->pages[r->chunk_page];
    size_t off = r->chunk_off, take = p->len - off;
    int last = take <= CHUNK_SLICE_BYTES;
    if (!last) {
        take = CHUNK_SLICE_BYTES;
        while (take && ((unsigned char)p->text[off + take] & 0xC0) == 0x80) take--;
    }
    const ragws_config_t *cfg = svc->cfg;
    size_t need = chunk_text(p->text + off, take, cfg->chunk_chars, cfg->chunk_overlap, NULL, 0);
    chunk_span_t *s = need ? malloc(need * sizeof *s) : NULL;
    if (need && !s) return -1;
    size_t n = chunk_text(p->text + off, take, cfg->chunk_chars, cfg->chunk_overlap, s, need);
    size_t keep = last || n < 2 ? n : n - 1;
    int rc = chunks_add(r, (uint32_t)r->chunk_page, off, s, keep);
    if (last) {
        r->chunk_page++;
        r->chunk_off = 0;
    } else {
        r->chunk_off = n >= 2 ? off + s[n - 1].start : n ? off + s[0].start + s[0].len : off + take;
    }
    r->chunked_bytes += r->chunk_off ? r->chunk_off - off : p->len - off;
    free(s);
    return rc;
}

static void index_next(ingest_run_t *r);

static void chunk_step(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    ingest_run_t *r = t->data;
    if (r->chunk_page < r->n_pages && chunk_slice(r) < 0) {
        run_fail(r, "out of memory while chunking");
        return;
    }
    if (r->chunk_page < r->n_pages) {
        emit_progress(r, EV_CHUNKING, 0);
        loop_timer_start(svc->loop, &r->step_timer, 0, chunk_step, r);
        return;
    }
    if (!r->n_chunks) {
        run_fail(r, "no text could be extracted from the file");
        return;
    }
    emit_progress(r, EV_CHUNKING, 1);
    r->phase = PH_INDEX;
    run_set_status(r, "indexing");
    index_next(r);
}

/* ---- indexing: ingest.insert_batch chunks per statement ---- */

static void inserted(void *ud, PGresult *res, const char *err)
{
    ingest_run_t *r = ud;
    r->main_req = NULL;
    if (!res) {
        log_warn("ingest: task %lld: chunk insert failed: %s", (long long)r->id, err ? err : "?");
        run_fail(r, "the chunks could not be stored");
        return;
    }
    r->written += r->batch_n;
    emit_progress(r, EV_EMBEDDING, r->written == r->n_chunks);
    emit_progress(r, EV_TASK, 0);
    run_store_progress(r, 0);
    index_next(r);
}

static void index_next(ingest_run_t *r)
{
    if (r->written == r->n_chunks) {
        run_finish(r, "completed", NULL, "success");
        return;
    }
    size_t n = r->n_chunks - r->written;
    if (n > svc->cfg->ingest_insert_batch) n = svc->cfg->ingest_insert_batch;
    uint32_t *pages = malloc(n * sizeof *pages);
    const char **texts = malloc(n * sizeof *texts);
    size_t *lens = malloc(n * sizeof *lens);
    int paged = r->type == EXTRACT_PDF || r->n_pages > 1;
    for (size_t i = 0; pages && texts && lens && i < n; i++) {
        const run_chunk_t *c = &r->chunks[r->written + i];
        const run_page_t *p = &r->pages[c->page_idx];
        pages[i] = paged ? p->number : 0;
        texts[i] = p->text + c->start;
        lens[i] = c->len;
    }
    r->batch_n = n;
    if (pages && texts && lens)
        r->main_req = store_chunks_insert(r->document_id, r->collection_id, (uint32_t)r->written,
                                          pages, texts, lens, n, inserted, r);
    free(pages);
    free(texts);
    free(lens);
    if (!r->main_req) run_fail(r, "the chunks could not be stored");
}

/* ---- the document row ---- */

static void doc_start(ingest_run_t *r);

static void retry_doc(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    doc_start(t->data);
}

static void doc_started(void *ud, PGresult *res, const char *err)
{
    ingest_run_t *r = ud;
    r->main_req = NULL;
    if (!res) {
        log_warn("ingest: task %lld: document insert failed: %s", (long long)r->id,
                 err ? err : "?");
        run_fail(r, "the document could not be stored");
    } else if (PQntuples(res) == 0) {
        /* An equal upload's insert committed after our snapshot. */
        if (r->dup_retry++ < 3)
            loop_timer_start(svc->loop, &r->step_timer, 50, retry_doc, r);
        else
            run_fail(r, "the document could not be stored");
    } else if (store_int(res, 0, 1)) {
        r->document_id = store_int(res, 0, 0);
        run_log(r, "info", "same content already in the collection: duplicate, not indexed again");
        run_finish(r, "completed", NULL, "duplicate");
    } else {
        r->document_id = store_int(res, 0, 0);
        run_extract(r);
    }
}

static void doc_start(ingest_run_t *r)
{
    store_doc_t d = {.task_id = r->id,
                     .collection_id = r->collection_id,
                     .filename = r->filename,
                     .content_type = r->content_type,
                     .content_hash = r->hash,
                     .upload_id = r->upload_id,
                     .project_id = r->project_id,
                     .size_bytes = r->size_bytes,
                     .chunk_chars = svc->cfg->chunk_chars,
                     .chunk_overlap = svc->cfg->chunk_overlap};
    r->main_req = store_document_start(&d, doc_started, r);
    if (!r->main_req) run_lost(r, "PostgreSQL unavailable");
}

void run_begin(ingest_run_t *r)
{
    char line[256];
    snprintf(line, sizeof line, "claimed by %s (attempt %u)", ingest_owner(), r->attempt);
    run_log(r, "info", line);
    emit_run_update(r);
    loop_timer_start(svc->loop, &r->renew_timer, svc->cfg->ingest_lease_ms / 3, renew_tick, r);
    /* An earlier attempt's partial rows (its worker died) go first: the
     * statements run in order on this worker's connection. */
    if (r->attempt > 1) store_task_drop_partial(r->id, NULL, NULL);
    doc_start(r);
}

/* ---- the end ---- */

static void finished(void *ud, PGresult *res, const char *err)
{
    ingest_run_t *r = ud;
    r->main_req = NULL;
    const char *st = res && PQntuples(res) == 1 ? store_text(res, 0, 1) : NULL;
    if (!st) {
        run_lost(r, err ? err : "the task was taken by another worker");
        return;
    }
    const char *outcome = r->outcome;
    if (strcmp(st, "cancelled") == 0) outcome = "cancelled";
    uint64_t ms = loop_now_ms(svc->loop) - r->t0_ms;
    stats_add(&svc->stats->ingest_task_ms, ms);
    stats_add(strcmp(st, "completed") == 0   ? &svc->stats->ingest_completed
              : strcmp(st, "cancelled") == 0 ? &svc->stats->ingest_cancelled
                                             : &svc->stats->ingest_failed,
              1);
    r->status = strcmp(st, "completed") == 0 ? "completed"
                : strcmp(st, "failed") == 0  ? "failed"
                                             : "cancelled";
    ingest_task_view_t v;
    emit_view(r, &v);
    emit_end(&v, r->upload_id, r->project_id, (double)ms / 1000.0, outcome);
    if (r->path && unlink(r->path) < 0 && errno != ENOENT)
        log_warn("ingest: cannot remove %s: %s", r->path, strerror(errno));
    ingest_run_unlink(r);
    run_free(r);
}

/* The final statement; the outcome (success, duplicate, failed,
 * cancelled) and the error wait in the run for its answer. */
static void run_finish(ingest_run_t *r, const char *status, const char *error, const char *outcome)
{
    if (r->phase == PH_FINISH) return;
    run_quiesce(r);
    r->phase = PH_FINISH;
    snprintf(r->outcome, sizeof r->outcome, "%s", outcome);
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
    r->main_req = store_task_finish(r->id, ingest_owner(), r->attempt, status, error,
                                    r->document_id, r->written, finished, r);
    if (!r->main_req) run_lost(r, "PostgreSQL unavailable at the end");
}

static void run_fail(ingest_run_t *r, const char *error)
{
    run_log(r, "error", error);
    run_finish(r, "failed", error, "failed");
}

void run_cancel(ingest_run_t *r)
{
    run_log(r, "info", "cancelled");
    run_finish(r, "cancelled", NULL, "cancelled");
}

void run_claim_failed(const PGresult *res, int row)
{
    ingest_task_view_t v;
    store_task_row(res, row, &v);
    const char *path = store_text(res, row, STORE_TASK_PATH);
    store_task_log(v.id, "error", v.error ? v.error : "failed", NULL, NULL);
    emit_task_log(v.id, "error", v.error ? v.error : "failed");
    store_task_drop_partial(v.id, NULL, NULL);
    v.document_id = 0;
    stats_add(&svc->stats->ingest_failed, 1);
    emit_end(&v, v.upload_id, store_text(res, row, STORE_TASK_PROJECT_ID), 0, "failed");
    if (path && unlink(path) < 0 && errno != ENOENT)
        log_warn("ingest: cannot remove %s: %s", path, strerror(errno));
}
