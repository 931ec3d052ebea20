/* REST routes of the ingestion queue (see rest_tasks.h). */
#include "worker/api/rest_tasks.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/ingest_events.h"
#include "protocol/json_msg.h"
#include "worker/net/http.h"
#include "worker/svc/ingest_ops.h"

#define LIST_MAX       200
#define LOGS_MAX       200
#define HTTP_QUERY_MAX 4096

/* One pending answer: c is NULL once the client went away (the request
 * still completes, so a cancel always has its effects). */
typedef struct pending {
    conn_t *c;
} pending_t;

static void pending_abort(conn_t *c, void *data)
{
    (void)c;
    ((pending_t *)data)->c = NULL;
}

static pending_t *pending_begin(conn_t *c, const http_request_t *req)
{
    pending_t *p = calloc(1, sizeof *p);
    if (p && !http_begin_async(c, req, pending_abort, p)) {
        free(p);
        p = NULL;
    }
    if (!p) http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
    if (p) p->c = c;
    return p;
}

/* The request could not be queued: PostgreSQL is unavailable. */
static void pending_sent(pending_t *p, ingest_req_t *r)
{
    if (r) return;
    http_respond_error(p->c, 503, "STORAGE_UNAVAILABLE",
                       "PostgreSQL is unavailable; retry shortly");
    http_end_async(p->c);
    free(p);
}

/* Ends p: answers 200 with o (stolen), or 500 when it cannot be encoded. */
static void pending_json(pending_t *p, json_t *o)
{
    char *s = o ? json_msg_dump_free(o) : NULL;
    if (!p->c) {
    } else if (s) {
        http_respond(p->c, 200, "application/json", s, strlen(s), NULL);
    } else {
        http_respond_error(p->c, 500, "INTERNAL_ERROR", "the answer could not be encoded");
    }
    free(s);
    if (p->c) http_end_async(p->c);
    free(p);
}

static void pending_error(pending_t *p, int status, const char *code, const char *message)
{
    if (p->c) {
        http_respond_error(p->c, status, code, message);
        http_end_async(p->c);
    }
    free(p);
}

/* The route parameter `name` as a task or document id (1..18 digits,
 * positive), else 400. */
static int64_t id_param(conn_t *c, const route_params_t *params, const char *name, const char *what)
{
    char s[32];
    int n = route_param(params, name, s, sizeof s);
    int ok = n > 0 && n <= 18;
    for (int i = 0; ok && i < n; i++) ok = s[i] >= '0' && s[i] <= '9';
    int64_t v = ok ? strtoll(s, NULL, 10) : 0;
    if (v <= 0) http_respond_error(c, 400, "VALIDATION_ERROR", what);
    return v;
}

static const char *const STATUSES[] = {"queued",    "extracting", "chunking",  "indexing",
                                       "completed", "failed",     "cancelled", "active"};

static void listed(void *ud, const ingest_task_view_t *tasks, size_t n, const char *error)
{
    pending_t *p = ud;
    if (!tasks) {
        pending_error(p, 503, "STORAGE_UNAVAILABLE", error);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) json_array_append_new(a, ingest_task_json(&tasks[i]));
    pending_json(p, a ? json_pack("{s:o}", "tasks", a) : NULL);
}

void rest_list_tasks(conn_t *c, const http_request_t *req, const route_params_t *params,
                     const char *body, size_t len)
{
    /* As large as any query, so -1 means absent. */
    char status[HTTP_QUERY_MAX];
    const char *filter = NULL;
    int n =
        req->query_len < sizeof status ? http_query_param(req, "status", status, sizeof status) : 0;
    for (size_t i = 0; n > 0 && i < sizeof STATUSES / sizeof STATUSES[0]; i++)
        if (strcmp(status, STATUSES[i]) == 0) filter = STATUSES[i];
    if (n >= 0 && !filter) {
        http_respond_error(c, 400, "VALIDATION_ERROR",
                           "status must be queued, extracting, chunking, indexing, completed, "
                           "failed, cancelled or active");
        return;
    }
    pending_t *p = pending_begin(c, req);
    if (p) pending_sent(p, ingest_list(filter, LIST_MAX, listed, p));
}

static void looked_up(void *ud, const ingest_task_view_t *task, const ingest_log_view_t *logs,
                      size_t n, const char *error)
{
    pending_t *p = ud;
    if (!task) {
        if (error)
            pending_error(p, 503, "STORAGE_UNAVAILABLE", error);
        else
            pending_error(p, 404, "NOT_FOUND", "no such task");
        return;
    }
    json_t *o = ingest_task_json(task), *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_pack("{s:o, s:o, s:s}", "level", json_msg_text(logs[i].level),
                                           "message", json_msg_text(logs[i].message), "timestamp",
                                           logs[i].timestamp));
    if (o && a) {
        json_object_set_new(o, "logs", a);
    } else {
        json_decref(o);
        json_decref(a);
        o = NULL;
    }
    pending_json(p, o);
}

void rest_get_task(conn_t *c, const http_request_t *req, const route_params_t *params,
                   const char *body, size_t len)
{
    int64_t id = id_param(c, params, "id", "bad task id");
    if (id <= 0) return;
    pending_t *p = pending_begin(c, req);
    if (p) pending_sent(p, ingest_lookup(id, LOGS_MAX, looked_up, p));
}

static void cancelled(void *ud, const char *outcome, const ingest_task_view_t *task,
                      const char *error)
{
    pending_t *p = ud;
    if (!task)
        pending_error(p, error ? 503 : 404, error ? "STORAGE_UNAVAILABLE" : "NOT_FOUND",
                      error ? error : "no such task");
    else if (strcmp(outcome, "cancelled") != 0)
        pending_error(p, 409, "TASK_FINISHED", "the task has already finished");
    else
        pending_json(p, ingest_task_json(task));
}

void rest_cancel_task(conn_t *c, const http_request_t *req, const route_params_t *params,
                      const char *body, size_t len)
{
    int64_t id = id_param(c, params, "id", "bad task id");
    if (id <= 0) return;
    pending_t *p = pending_begin(c, req);
    if (p) pending_sent(p, ingest_cancel(id, cancelled, p));
}

typedef struct del_pending {
    pending_t p; /* first: freed as a pending_t */
    int64_t id;
} del_pending_t;

static void deleted(void *ud, int found, uint64_t chunks, const char *error)
{
    del_pending_t *d = ud;
    if (error)
        pending_error(&d->p, 503, "STORAGE_UNAVAILABLE", error);
    else if (!found)
        pending_error(&d->p, 404, "NOT_FOUND", "no such document");
    else
        pending_json(&d->p, json_pack("{s:b, s:I, s:I}", "deleted", 1, "document_id",
                                      (json_int_t)d->id, "chunks_removed", (json_int_t)chunks));
}

void rest_delete_document(conn_t *c, const http_request_t *req, const route_params_t *params,
                          const char *body, size_t len)
{
    int64_t id = id_param(c, params, "id", "bad document id");
    if (id <= 0) return;
    del_pending_t *d = calloc(1, sizeof *d);
    if (!d || !http_begin_async(c, req, pending_abort, &d->p)) {
        free(d);
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    d->p.c = c;
    d->id = id;
    pending_sent(&d->p, ingest_delete_document(id, deleted, d));
}
