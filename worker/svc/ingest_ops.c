/* REST operations on tasks and documents (worker/svc/ingest_ops.h). */
#include "worker/svc/ingest_ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "worker/svc/ingest_internal.h"
#include "worker/svc/store_tasks.h"
#include "worker/svc/svc.h"

/* A cancelled task nobody runs (queued, or its worker died): ended here. */
static void end_orphan(const PGresult *res, const ingest_task_view_t *v)
{
    const char *path = store_text(res, 0, STORE_TASK_PATH);
    store_task_drop_partial(v->id, NULL, NULL);
    store_task_log(v->id, "info", "cancelled before it ran", NULL, NULL);
    emit_task_log(v->id, "info", "cancelled before it ran");
    stats_add(&svc->stats->ingest_cancelled, 1);
    ingest_task_view_t t = *v;
    t.document_id = 0;
    emit_end(&t, v->upload_id, store_text(res, 0, STORE_TASK_PROJECT_ID), 0, "cancelled");
    if (path && unlink(path) < 0 && errno != ENOENT)
        log_warn("ingest: cannot remove %s: %s", path, strerror(errno));
}

static void cancelled(void *ud, PGresult *res, const char *err)
{
    ingest_req_t *r = ud;
    if (!res) {
        r->cancel_cb(r->ud, NULL, NULL, err ? err : DB_ERR_QUERY);
    } else if (PQntuples(res) == 0) {
        r->cancel_cb(r->ud, NULL, NULL, NULL);
    } else {
        ingest_task_view_t v;
        store_task_row(res, 0, &v);
        const char *outcome = PQgetvalue(res, 0, STORE_TASK_NCOLS);
        int orphan = store_int(res, 0, STORE_TASK_NCOLS + 1) != 0;
        if (strcmp(outcome, "cancelled") == 0) {
            ingest_run_t *run = ingest_run_find(v.id);
            if (run) {
                run_cancel(run);
            } else if (orphan) {
                end_orphan(res, &v);
            } else {
                /* Its worker (on this node) kills the extraction and
                 * drops the partial rows; the lease renewal is the
                 * backstop elsewhere. */
                char *m = ingest_control("cancel", v.id);
                if (m) svc->publish(INGEST_CH_CONTROL, strlen(INGEST_CH_CONTROL), m, strlen(m));
                free(m);
            }
        }
        r->cancel_cb(r->ud, outcome, &v, NULL);
    }
    ingest_req_free(r);
}

ingest_req_t *ingest_cancel(int64_t task_id,
                            void (*cb)(void *ud, const char *outcome,
                                       const ingest_task_view_t *task, const char *error),
                            void *ud)
{
    ingest_req_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->cancel_cb = cb;
    r->ud = ud;
    if (!(r->db = store_task_cancel(task_id, cancelled, r))) {
        free(r);
        return NULL;
    }
    return r;
}

static void deleted(void *ud, PGresult *res, const char *err)
{
    ingest_req_t *r = ud;
    if (!res) {
        r->delete_cb(r->ud, 0, 0, err ? err : DB_ERR_QUERY);
    } else if (PQntuples(res) == 0) {
        r->delete_cb(r->ud, 0, 0, NULL);
    } else {
        uint64_t n = (uint64_t)store_int(res, 0, 3);
        emit_document_deleted(PQgetvalue(res, 0, 1), store_int(res, 0, 0), PQgetvalue(res, 0, 2), n,
                              store_text(res, 0, 4));
        r->delete_cb(r->ud, 1, n, NULL);
    }
    ingest_req_free(r);
}

ingest_req_t *ingest_delete_document(int64_t document_id,
                                     void (*cb)(void *ud, int found, uint64_t chunks_removed,
                                                const char *error),
                                     void *ud)
{
    ingest_req_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->delete_cb = cb;
    r->ud = ud;
    if (!(r->db = store_document_delete(document_id, deleted, r))) {
        free(r);
        return NULL;
    }
    return r;
}
