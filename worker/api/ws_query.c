/* /ws/query (SPEC S4.6, seed 004): multiplexed RAG queries. Each query
 * runs as a rag job keyed by its request_id; config applies to later
 * queries; control pauses, resumes or cancels one in flight. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/query.h"
#include "worker/net/route.h"
#include "worker/svc/jobs.h"
#include "worker/svc/rag.h"
#include "worker/net/net.h"
#include "worker/net/ws.h"

typedef struct qsession qsession_t;

typedef struct qreq {
    job_t j; /* first: the list's record is this one */
    qsession_t *s;
    char rid[QUERY_RID_MAX + 1];
    int stream, include_sources;
    int citations;
    double progress; /* of the last status sent */
    char mode[16];
} qreq_t;

struct qsession {
    conn_t *c;
    jobs_t reqs;
    char response_format[32];
    char language[16];
    double temperature; /* < 0: server default */
    char conv_ext[64];
};

static void query_send_error(conn_t *c, const char *code, const char *message)
{
    stats_add(&net->stats->errors, 1);
    ws_send_owned(c, query_error(NULL, code, message, "validation", 1));
}

static int rid_is(const job_t *j, const void *rid)
{
    return strcmp(((const qreq_t *)j)->rid, rid) == 0;
}

static qreq_t *find_req(qsession_t *s, const char *rid)
{
    return (qreq_t *)jobs_find(&s->reqs, rid_is, rid);
}

static void release_req(job_t *r) { free(r); }

/* ---- rag events -> seed 004 messages ---- */

static void ev_status(void *ud, const char *stage, double progress, const char *message)
{
    qreq_t *r = ud;
    r->progress = progress;
    ws_send_owned(r->s->c, query_status(r->rid, stage, progress, message));
}

static void ev_sources(void *ud, const rag_source_t *src, size_t n)
{
    qreq_t *r = ud;
    if (!r->include_sources) return;
    for (size_t i = 0; i < n; i++) {
        r->citations++;
        ws_send_owned(r->s->c, query_citation(r->rid, r->citations, src[i].filename, src[i].page,
                                              src[i].score, src[i].snippet));
    }
}

static void ev_token(void *ud, const char *text, size_t len, uint32_t position, uint64_t arrived_ns)
{
    qreq_t *r = ud;
    if (r->stream)
        ws_send_owned_at(r->s->c, query_token(r->rid, text, len, position, 0), arrived_ns);
}

static void ev_complete(void *ud, const rag_result_t *res)
{
    qreq_t *r = ud;
    if (r->stream) ws_send_owned(r->s->c, query_token(r->rid, "", 0, res->tokens, 1));
    ws_send_owned(r->s->c, query_complete(r->rid, res->total_time, res->tokens, res->sources_used,
                                          res->mode, res->intent, res->entities, res->n_entities,
                                          r->stream ? NULL : res->answer, res->conversation_id));
    jobs_done(&r->j);
}

static void ev_error(void *ud, const char *code, const char *message, const char *stage)
{
    qreq_t *r = ud;
    ws_send_owned(r->s->c, query_error(r->rid, code, message, stage, 1));
    jobs_done(&r->j);
}

static const rag_events_t query_events = {
    .on_status = ev_status,
    .on_sources = ev_sources,
    .on_token = ev_token,
    .on_complete = ev_complete,
    .on_error = ev_error,
};

/* ---- client messages ---- */

static void start_query(qsession_t *s, const query_msg_t *m)
{
    if (find_req(s, m->request_id)) {
        stats_add(&net->stats->errors, 1);
        ws_send_owned(s->c, query_error(m->request_id, "DUPLICATE_REQUEST_ID",
                                        "a request with this request_id is still in flight",
                                        "validation", 1));
        return;
    }
    if (!jobs_room(&s->reqs)) {
        char msg[128];
        snprintf(msg, sizeof msg, "at most %u queries may run at once on a connection",
                 net->cfg->max_inflight_per_connection);
        stats_add(&net->stats->errors, 1);
        ws_send_owned(s->c, query_error(m->request_id, "TOO_MANY_REQUESTS", msg, "validation", 1));
        return;
    }
    qreq_t *r = calloc(1, sizeof *r);
    if (!r) return;
    r->s = s;
    snprintf(r->rid, sizeof r->rid, "%s", m->request_id);
    r->stream = m->stream;
    r->include_sources = m->include_sources;
    snprintf(r->mode, sizeof r->mode, "%s", m->mode);
    rag_params_t p = {
        .question = m->query,
        .collection = m->collection[0] ? m->collection : NULL,
        .max_results = m->max_results,
        .mode = m->mode,
        .temperature = s->temperature,
        .language = s->language[0] ? s->language : NULL,
        .conv_kind = "query",
        .conv_external_id = s->conv_ext,
        .owner = s->c->sub,
    };
    rag_job_t *job = rag_start(&p, &query_events, r);
    if (!job) {
        free(r);
        ws_send_owned(
            s->c, query_error(m->request_id, "INTERNAL_ERROR", "out of memory", "validation", 1));
        return;
    }
    jobs_add(&s->reqs, &r->j, job);
}

static void control(qsession_t *s, const query_msg_t *m)
{
    qreq_t *r = find_req(s, m->request_id);
    if (!r) {
        stats_add(&net->stats->errors, 1);
        ws_send_owned(s->c,
                      query_error(m->request_id, "UNKNOWN_REQUEST_ID",
                                  "no request with this request_id is in flight", "validation", 1));
        return;
    }
    if (strcmp(m->action, "pause") == 0) {
        rag_pause(r->j.handle);
        ws_send_owned(
            s->c, query_status(r->rid, "paused", r->progress, "Paused; send resume to continue"));
    } else if (strcmp(m->action, "resume") == 0) {
        rag_resume(r->j.handle);
        ws_send_owned(s->c, query_status(r->rid, "resumed", r->progress, "Resumed"));
    } else {
        rag_cancel(r->j.handle); /* no event follows: the record is ours to release */
        ws_send_owned(s->c, query_error(r->rid, "CANCELLED",
                                        "the request was cancelled by the client", "cancelled", 1));
        jobs_done(&r->j);
    }
}

static void query_on_open(conn_t *c, void *open_arg)
{
    (void)open_arg;
    qsession_t *s = calloc(1, sizeof *s);
    if (!s) {
        ws_close(c, 1011, "out of memory");
        return;
    }
    s->c = c;
    jobs_init(&s->reqs, s, net->cfg->max_inflight_per_connection, rag_cancel_handle, release_req);
    s->temperature = -1;
    snprintf(s->response_format, sizeof s->response_format, "with_citations");
    /* Each connection is one stored conversation. */
    snprintf(s->conv_ext, sizeof s->conv_ext, "w%d-%u-%llx", net->slot_idx, c->id,
             (unsigned long long)loop_clock_ns());
    c->ep_data = s;
}

static void query_on_text(conn_t *c, const char *data, size_t len)
{
    qsession_t *s = c->ep_data;
    if (!s) return;
    query_msg_t m;
    const char *code;
    char err[256];
    if (query_msg_parse(data, len, &m, &code, err, sizeof err) < 0) {
        stats_add(&net->stats->errors, 1);
        ws_send_owned(c, query_error(m.request_id, code, err, "validation", 1));
        query_msg_free(&m);
        return;
    }
    switch (m.kind) {
    case QMSG_QUERY: start_query(s, &m); break;
    case QMSG_CONTROL: control(s, &m); break;
    case QMSG_CONFIG:
        if (m.has_response_format)
            snprintf(s->response_format, sizeof s->response_format, "%s", m.response_format);
        if (m.has_language) snprintf(s->language, sizeof s->language, "%s", m.language);
        if (m.has_temperature) s->temperature = m.temperature;
        ws_send_owned(c,
                      query_config_updated(m.request_id, s->response_format,
                                           s->language[0] ? s->language : "auto", s->temperature));
        break;
    }
    query_msg_free(&m);
}

static void query_on_close(conn_t *c)
{
    qsession_t *s = c->ep_data;
    if (!s) return;
    /* The client is gone: stop its answers (stored as cancelled). */
    jobs_cancel_all(&s->reqs);
    free(s);
    c->ep_data = NULL;
}

const endpoint_t ep_query = {
    .path = "/ws/query",
    .on_open = query_on_open,
    .on_text = query_on_text,
    .on_close = query_on_close,
    .send_error = query_send_error,
};
