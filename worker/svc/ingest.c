/* The ingestion service: the poller and the claim, control messages,
 * submit and the dashboards' reads (see worker/svc/ingest.h and
 * ingest_internal.h). */
#include "worker/svc/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "protocol/ingest_events.h"
#include "worker/svc/ingest_internal.h"
#include "worker/svc/ingest_ops.h"
#include "worker/svc/store_tasks.h"
#include "worker/svc/svc.h"

static struct {
    int started, stopping;
    char owner[128];
    loop_timer_t poll_timer, again_timer;
    db_req_t *claim_req, *counts_req;
    int claim_again; /* a wake-up came while a claim was in flight */
    ingest_run_t *runs;
    unsigned n_runs;
} q;

const char *ingest_owner(void) { return q.owner; }

unsigned ingest_local_running(void) { return q.n_runs; }

ingest_run_t *ingest_run_find(int64_t task_id)
{
    for (ingest_run_t *r = q.runs; r; r = r->next)
        if (r->id == task_id) return r;
    return NULL;
}

/* ---- places (ingest.max_parallel per node) ---- */

static int place_take(void)
{
    if (!shm_ingest_reserve(svc->shm, svc->cfg->ingest_max_parallel)) return 0;
    stats_add(&svc->stats->ingest_running, 1);
    return 1;
}

static void place_give(void)
{
    stats_sub(&svc->stats->ingest_running, 1);
    shm_ingest_release(svc->shm);
}

static void claim_next(void);

static void again_cb(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    (void)t;
    claim_next();
}

/* Look for more from the loop, not from inside the callback that ended. */
static void claim_soon(void)
{
    if (!q.stopping && !loop_timer_armed(&q.again_timer))
        loop_timer_start(svc->loop, &q.again_timer, 0, again_cb, NULL);
}

void ingest_run_unlink(ingest_run_t *r)
{
    for (ingest_run_t **pp = &q.runs; *pp; pp = &(*pp)->next) {
        if (*pp != r) continue;
        *pp = r->next;
        q.n_runs--;
        place_give();
        break;
    }
    claim_soon();
}

/* ---- the claim ---- */

static void claim_done(void *ud, PGresult *res, const char *err)
{
    (void)ud;
    q.claim_req = NULL;
    if (!res || PQntuples(res) == 0) {
        place_give();
        if (err) log_warn("ingest: claim failed: %s", err);
        if (res && q.claim_again) {
            q.claim_again = 0;
            claim_soon();
        }
        return;
    }
    q.claim_again = 0;
    const char *status = store_text(res, 0, STORE_TASK_STATUS);
    if (status && strcmp(status, "failed") == 0) {
        run_claim_failed(res, 0);
        place_give();
    } else {
        ingest_run_t *r = run_new(res, 0);
        if (!r) {
            log_error("ingest: out of memory for task %lld; its lease will lapse",
                      (long long)store_int(res, 0, STORE_TASK_ID));
            place_give();
        } else {
            r->next = q.runs;
            q.runs = r;
            q.n_runs++;
            run_begin(r);
        }
    }
    claim_soon();
}

static void claim_next(void)
{
    if (!q.started || q.stopping || (svc->draining && *svc->draining)) return;
    if (q.claim_req) {
        q.claim_again = 1;
        return;
    }
    if (!place_take()) return;
    q.claim_req = store_task_claim(q.owner, svc->cfg->ingest_lease_ms,
                                   svc->cfg->ingest_max_attempts, claim_done, NULL);
    if (!q.claim_req) place_give();
}

/* ---- the poller: the table's counts for the dashboards, then a claim ---- */

static void counts_done(void *ud, PGresult *res, const char *err)
{
    (void)ud;
    (void)err;
    q.counts_req = NULL;
    if (!res || PQntuples(res) != 1) return;
    shm_ingest_report(svc->shm, loop_now_ms(svc->loop), (uint64_t)store_int(res, 0, 0),
                      (uint64_t)store_int(res, 0, 1), (uint64_t)store_int(res, 0, 2),
                      (uint64_t)store_int(res, 0, 3), (uint64_t)store_int(res, 0, 4));
}

static void poll_cb(loop_t *loop, loop_timer_t *t)
{
    if (q.stopping) return;
    if (!q.counts_req) q.counts_req = store_task_counts(counts_done, NULL);
    claim_next();
    loop_timer_start(loop, t, svc->cfg->ingest_poll_ms, poll_cb, NULL);
}

int ingest_start(void)
{
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    snprintf(q.owner, sizeof q.owner, "%s:%d:%d", host, (int)getpid(), svc->slot_idx);
    q.started = 1;
    q.stopping = 0;
    loop_timer_start(svc->loop, &q.poll_timer, 0, poll_cb, NULL);
    return 0;
}

void ingest_stop(void)
{
    if (!q.started || q.stopping) return;
    q.stopping = 1;
    loop_timer_stop(svc->loop, &q.poll_timer);
    loop_timer_stop(svc->loop, &q.again_timer);
    if (q.claim_req) {
        /* The claim may still take a task: its lease lapses. */
        db_detach(q.claim_req);
        q.claim_req = NULL;
        place_give();
    }
    db_detach(q.counts_req);
    q.counts_req = NULL;
    while (q.runs) {
        ingest_run_t *r = q.runs;
        q.runs = r->next;
        q.n_runs--;
        log_info("ingest: task %lld left to another worker (its lease lapses)", (long long)r->id);
        run_abandon(r);
        place_give();
    }
}

void ingest_on_control(const char *payload, size_t len)
{
    char op[16];
    int64_t task_id = 0;
    if (ingest_control_parse(payload, len, op, sizeof op, &task_id) < 0) return;
    if (strcmp(op, "wake") == 0) {
        claim_next();
    } else if (strcmp(op, "cancel") == 0) {
        ingest_run_t *r = ingest_run_find(task_id);
        if (r) run_cancel(r);
    }
}

/* ---- requests ---- */

void ingest_req_free(ingest_req_t *r)
{
    free(r->upload_id);
    free(r->filename);
    free(r->collection);
    free(r);
}

void ingest_req_detach(ingest_req_t *r)
{
    if (!r) return;
    db_detach(r->db);
    ingest_req_free(r);
}

static void wake_all(void)
{
    char *m = ingest_control("wake", 0);
    if (m) svc->publish(INGEST_CH_CONTROL, strlen(INGEST_CH_CONTROL), m, strlen(m));
    free(m);
}

static void submitted(void *ud, PGresult *res, const char *err)
{
    ingest_req_t *r = ud;
    if (!res || PQntuples(res) != 1) {
        r->submit_cb(r->ud, 0, "STORAGE_UNAVAILABLE", err ? err : DB_ERR_QUERY);
        ingest_req_free(r);
        return;
    }
    int64_t id = store_int(res, 0, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ingest_task_view_t v = {.id = id,
                            .upload_id = r->upload_id,
                            .filename = r->filename,
                            .collection = r->collection,
                            .status = "queued",
                            .created_at = (double)ts.tv_sec + ts.tv_nsec / 1e9};
    emit_task_update(&v);
    char *p =
        ingest_processing_progress(r->upload_id, r->filename, "queued", 0, "Queued for processing");
    emit_two(INGEST_CH_UPLOAD, r->upload_id, p);
    wake_all(); /* every worker of the node, this one included, looks */
    r->submit_cb(r->ud, id, NULL, NULL);
    ingest_req_free(r);
}

ingest_req_t *ingest_submit(const ingest_upload_t *u,
                            void (*cb)(void *ud, int64_t task_id, const char *code,
                                       const char *message),
                            void *ud)
{
    ingest_req_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->submit_cb = cb;
    r->ud = ud;
    r->upload_id = strdup(u->upload_id);
    r->filename = strdup(u->filename);
    r->collection = strdup(u->collection);
    if (r->upload_id && r->filename && r->collection)
        r->db =
            store_task_submit(u->upload_id, u->collection, u->filename, u->content_type, u->path,
                              u->size_bytes, u->sha256_hex, u->project_id, u->owner, submitted, r);
    if (!r->db) {
        ingest_req_free(r);
        return NULL;
    }
    return r;
}

/* Rows of tasks to views (n of them; NULL with n 0 when out of memory). */
static ingest_task_view_t *views_of(PGresult *res, size_t *n)
{
    *n = (size_t)PQntuples(res);
    ingest_task_view_t *v = calloc(*n ? *n : 1, sizeof *v);
    if (!v) {
        *n = 0;
        return NULL;
    }
    for (size_t i = 0; i < *n; i++) store_task_row(res, (int)i, &v[i]);
    return v;
}

static void listed(void *ud, PGresult *res, const char *err)
{
    ingest_req_t *r = ud;
    size_t n = 0;
    ingest_task_view_t *v = res ? views_of(res, &n) : NULL;
    if (!v)
        r->list_cb(r->ud, NULL, 0, res ? "out of memory" : err ? err : DB_ERR_QUERY);
    else
        r->list_cb(r->ud, v, n, NULL);
    free(v);
    ingest_req_free(r);
}

static ingest_req_t *list_req(void (*cb)(void *, const ingest_task_view_t *, size_t, const char *),
                              void *ud)
{
    ingest_req_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->list_cb = cb;
    r->ud = ud;
    return r;
}

ingest_req_t *ingest_list_active(size_t limit,
                                 void (*cb)(void *ud, const ingest_task_view_t *tasks, size_t n,
                                            const char *error),
                                 void *ud)
{
    ingest_req_t *r = list_req(cb, ud);
    if (r && !(r->db = store_task_list_active((uint32_t)limit, listed, r))) {
        free(r);
        return NULL;
    }
    return r;
}

ingest_req_t *ingest_list(const char *status, size_t limit,
                          void (*cb)(void *ud, const ingest_task_view_t *tasks, size_t n,
                                     const char *error),
                          void *ud)
{
    ingest_req_t *r = list_req(cb, ud);
    if (r && !(r->db = store_task_list(status, (uint32_t)limit, listed, r))) {
        free(r);
        return NULL;
    }
    return r;
}

static void looked_up(void *ud, PGresult *res, const char *err)
{
    ingest_req_t *r = ud;
    if (!res) {
        r->lookup_cb(r->ud, NULL, NULL, 0, err ? err : DB_ERR_QUERY);
    } else if (PQntuples(res) == 0) {
        r->lookup_cb(r->ud, NULL, NULL, 0, NULL);
    } else {
        size_t rows = (size_t)PQntuples(res), n = 0;
        ingest_task_view_t t;
        store_task_row(res, 0, &t);
        ingest_log_view_t *logs = calloc(rows, sizeof *logs);
        for (size_t i = 0; logs && i < rows; i++) {
            if (PQgetisnull(res, (int)i, STORE_LOG_LEVEL)) continue;
            logs[n++] = (ingest_log_view_t){
                .level = PQgetvalue(res, (int)i, STORE_LOG_LEVEL),
                .message = PQgetvalue(res, (int)i, STORE_LOG_LEVEL + 1),
                .timestamp = PQgetvalue(res, (int)i, STORE_LOG_LEVEL + 2),
            };
        }
        if (logs)
            r->lookup_cb(r->ud, &t, logs, n, NULL);
        else
            r->lookup_cb(r->ud, NULL, NULL, 0, "out of memory");
        free(logs);
    }
    ingest_req_free(r);
}

ingest_req_t *ingest_lookup(int64_t task_id, size_t log_limit,
                            void (*cb)(void *ud, const ingest_task_view_t *task,
                                       const ingest_log_view_t *logs, size_t nlogs,
                                       const char *error),
                            void *ud)
{
    ingest_req_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->lookup_cb = cb;
    r->ud = ud;
    if (!(r->db = store_task_get(task_id, (uint32_t)log_limit, looked_up, r))) {
        free(r);
        return NULL;
    }
    return r;
}
