/* /api/v1/ws (SPEC S4.1, seed 000): every client is subscribed to
 * "global", where follow_up_questions and indexing_progress are broadcast;
 * a client may also ask: {"type":"query","content":{"question","context"}}
 * -> {"type":"response","content":{"answer","sources"}}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/apiv1.h"
#include "protocol/json_msg.h"
#include "worker/net/route.h"
#include "worker/svc/jobs.h"
#include "worker/svc/rag.h"
#include "worker/net/net.h"
#include "worker/net/ws.h"

typedef struct apiv1_session apiv1_session_t;

typedef struct apiv1_job {
    job_t j; /* first: the list's record is this one */
    apiv1_session_t *s;
    json_t *sources;
} apiv1_job_t;

struct apiv1_session {
    conn_t *c;
    jobs_t jobs;
    char conv_ext[64];
};

static void apiv1_send_error(conn_t *c, const char *code, const char *message)
{
    ws_send_owned(c, apiv1_error(code, message));
    stats_add(&net->stats->errors, 1);
}

static void release_job(job_t *jj)
{
    apiv1_job_t *j = (apiv1_job_t *)jj;
    json_decref(j->sources);
    free(j);
}

static void ev_sources(void *ud, const rag_source_t *src, size_t n)
{
    apiv1_job_t *j = ud;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:I, s:I, s:o, s:f, s:o, s:o}", "id", (json_int_t)src[i].chunk_id,
                              "document_id", (json_int_t)src[i].document_id, "filename",
                              json_msg_text(src[i].filename), "score", src[i].score, "content",
                              json_msg_text(src[i].snippet), "page",
                              src[i].page ? json_integer(src[i].page) : json_null());
        if (o) json_array_append_new(j->sources, o);
    }
}

static void ev_complete(void *ud, const rag_result_t *r)
{
    apiv1_job_t *j = ud;
    ws_send_owned(j->s->c, apiv1_response(r->answer, j->sources));
    jobs_done(&j->j);
}

static void ev_error(void *ud, const char *code, const char *message, const char *stage)
{
    (void)stage;
    apiv1_job_t *j = ud;
    apiv1_send_error(j->s->c, code, message);
    jobs_done(&j->j);
}

static const rag_events_t apiv1_events = {
    .on_sources = ev_sources,
    .on_complete = ev_complete,
    .on_error = ev_error,
};

static void query(apiv1_session_t *s, json_t *msg)
{
    json_t *content = json_object_get(msg, "content");
    json_t *q = json_object_get(content, "question");
    if (!json_is_object(content) || !json_is_string(q) || !json_string_length(q)) {
        apiv1_send_error(s->c, ERR_VALIDATION, "content.question (non-empty string) is required");
        return;
    }
    if (json_string_length(q) > 8192 || strlen(json_string_value(q)) != json_string_length(q)) {
        apiv1_send_error(s->c, ERR_VALIDATION,
                         "content.question must be at most 8192 bytes of text");
        return;
    }
    json_t *ctx = json_object_get(content, "context");
    if (ctx && !json_is_object(ctx) && !json_is_null(ctx)) {
        apiv1_send_error(s->c, ERR_VALIDATION, "content.context must be an object");
        return;
    }
    const char *collection = json_string_value(json_object_get(ctx, "collection"));
    if (collection && !channel_name_valid(collection, strlen(collection))) {
        apiv1_send_error(s->c, ERR_VALIDATION, "content.context.collection is not a valid name");
        return;
    }
    if (!jobs_room(&s->jobs)) {
        apiv1_send_error(s->c, "TOO_MANY_REQUESTS", "wait for the current answers to complete");
        return;
    }
    apiv1_job_t *j = calloc(1, sizeof *j);
    if (!j) return;
    j->s = s;
    j->sources = json_array();
    rag_params_t p = {
        .question = json_string_value(q),
        .collection = collection,
        .max_results = 5,
        .mode = "balanced",
        .temperature = -1,
        .conv_kind = "apiv1",
        .conv_external_id = s->conv_ext,
        .owner = s->c->sub,
    };
    rag_job_t *job = rag_start(&p, &apiv1_events, j);
    if (!job) {
        json_decref(j->sources);
        free(j);
        apiv1_send_error(s->c, "INTERNAL_ERROR", "out of memory");
        return;
    }
    jobs_add(&s->jobs, &j->j, job);
}

/* Most clients of this path only listen: the session is created with the
 * first query, so an idle subscriber costs nothing beyond its connection. */
static apiv1_session_t *session(conn_t *c)
{
    if (c->ep_data) return c->ep_data;
    apiv1_session_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->c = c;
    jobs_init(&s->jobs, s, net->cfg->max_inflight_per_connection, rag_cancel_handle, release_job);
    snprintf(s->conv_ext, sizeof s->conv_ext, "w%d-%u-%llx", net->slot_idx, c->id,
             (unsigned long long)loop_clock_ns());
    c->ep_data = s;
    return s;
}

static void apiv1_on_text(conn_t *c, const char *msg, size_t len)
{
    const char *code;
    char err[256];
    json_t *v = json_msg_parse(msg, len, &code, err, sizeof err);
    if (!v) {
        apiv1_send_error(c, code, err);
        return;
    }
    const char *type = json_msg_type(v, err, sizeof err);
    if (!type) {
        apiv1_send_error(c, ERR_VALIDATION, err);
    } else if (strcmp(type, "query") == 0) {
        apiv1_session_t *s = session(c);
        if (s)
            query(s, v);
        else
            apiv1_send_error(c, "INTERNAL_ERROR", "out of memory");
    } else if (strcmp(type, "ping") == 0) {
        static const char pong[] = "{\"type\":\"pong\"}";
        ws_send_text(c, pong, sizeof pong - 1);
    } else {
        char m[256];
        utf8_snprintf(m, sizeof m, "unknown message type \"%.*s\" (query or ping)", QUOTE(type));
        apiv1_send_error(c, ERR_UNKNOWN_TYPE, m);
    }
    json_decref(v);
}

static void apiv1_on_close(conn_t *c)
{
    apiv1_session_t *s = c->ep_data;
    if (!s) return;
    jobs_cancel_all(&s->jobs);
    free(s);
    c->ep_data = NULL;
}

const endpoint_t ep_apiv1 = {
    .path = "/api/v1/ws",
    .channel = APIV1_CHANNEL,
    .on_text = apiv1_on_text,
    .on_close = apiv1_on_close,
    .send_error = apiv1_send_error,
};
