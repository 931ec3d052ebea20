/* The REST twins of /ws/conversation (see rest_conversation.h). */
#include "worker/api/rest_conversation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/conversation.h"
#include "worker/net/http.h"
#include "worker/net/net.h"
#include "worker/svc/conv_rules.h"
#include "worker/svc/conversation.h"
#include "worker/svc/store_conv.h"

typedef struct pending {
    conn_t *c;
    conv_job_t *job;
    int wrap; /* /api/webhook/transcription: {session_id, suggestion} */
    char sid[CONV_SESSION_MAX + 1];
} pending_t;

static void respond_json(conn_t *c, int status, char *json)
{
    if (json)
        http_respond(c, status, "application/json", json, strlen(json), NULL);
    else
        http_respond_error(c, 500, "INTERNAL_ERROR", "the answer could not be encoded");
    free(json);
}

static void respond_422(conn_t *c, const conv_errs_t *errs)
{
    stats_add(&net->stats->errors, 1);
    respond_json(c, 422, conv_422(errs));
}

/* The default session: conversation.default_session, per user under jwt. */
static void default_session(const route_params_t *params, char *out)
{
    const char *d = net->cfg->conv_default_session;
    size_t n = (size_t)snprintf(out, CONV_SESSION_MAX + 1, "%s", d);
    const char *sub = params->owner;
    if (!sub || !*sub || n + 2 > CONV_SESSION_MAX) return;
    out[n++] = ':';
    for (; *sub && n < CONV_SESSION_MAX; sub++, n++) {
        char ch = *sub;
        out[n] = (strchr("_.:-", ch) && ch) || (ch >= 'a' && ch <= 'z') ||
                         (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
                     ? ch
                     : '_';
    }
    out[n] = '\0';
}

/* ?session_id= into out, or the default (required: 422 without it).
 * 0, or -1 after answering 422 / 500. */
static int session_of(conn_t *c, const http_request_t *req, const route_params_t *params,
                      int required, char out[CONV_SESSION_MAX + 1])
{
    char v[CONV_SESSION_MAX + 2];
    int n = http_query_param(req, "session_id", v, sizeof v);
    int present = n >= 0 || http_query_has(req, "session_id");
    conv_errs_t errs = {0};
    if (!present && required) {
        conv_errs_query(&errs, "session_id", "missing", "Field required");
    } else if (present && (n <= 0 || !conv_session_valid(v, (size_t)n))) {
        conv_errs_query(&errs, "session_id", "string_pattern_mismatch",
                        "String should match pattern '^[A-Za-z0-9_.:-]{1,64}$'");
    }
    if (errs.n) {
        respond_422(c, &errs);
        return -1;
    }
    if (present) {
        memcpy(out, v, (size_t)n + 1);
        return 0;
    }
    default_session(params, out);
    if (!conv_session_valid(out, strlen(out))) {
        http_respond_error(c, 500, "INTERNAL_ERROR",
                           "conversation.default_session is not a valid session id");
        return -1;
    }
    return 0;
}

static void pending_abort(conn_t *c, void *data)
{
    (void)c;
    pending_t *p = data;
    conv_detach(p->job); /* no callback will come: the job still completes */
    free(p);
}

static void ev_done(void *ud, const conv_suggestion_t *s, const char *json, int published,
                    int is_default)
{
    (void)published;
    pending_t *p = ud;
    if (is_default) /* the seed's REST answers 500 where its WebSocket sends the default */
        http_respond_error(p->c, 500, "PROCESSING_ERROR",
                           "Error processing message: the session history could not be read");
    else if (p->wrap)
        respond_json(p->c, 200, conv_webhook_answer(p->sid, s));
    else
        http_respond(p->c, 200, "application/json", json, strlen(json), NULL);
    http_end_async(p->c);
    free(p);
}

static void ev_error(void *ud, const char *error, const char *code, const char *details)
{
    (void)error;
    pending_t *p = ud;
    int status = strcmp(code, "FORBIDDEN") == 0             ? 403
                 : strcmp(code, "STORAGE_UNAVAILABLE") == 0 ? 503
                                                            : 500;
    if (status == 503) stats_add(&net->stats->storage_errors, 1);
    http_respond_error(p->c, status, code, details);
    http_end_async(p->c);
    free(p);
}

static void ev_token(void *ud, const char *content, const char *full_text)
{
    (void)ud;
    (void)content;
    (void)full_text;
}

static const conv_events_t events = {ev_token, ev_done, ev_error};

static void process(conn_t *c, const http_request_t *req, const route_params_t *params,
                    const char *body, size_t len, int wrap)
{
    char sid[CONV_SESSION_MAX + 1];
    if (session_of(c, req, params, wrap, sid) < 0) return;
    conv_input_t in;
    conv_errs_t errs;
    if (conv_input_parse(body ? body : "", body ? len : 0, &in, &errs) < 0) {
        respond_422(c, &errs);
        return;
    }
    pending_t *p = calloc(1, sizeof *p);
    if (!p || !http_begin_async(c, req, pending_abort, p)) {
        free(p);
        conv_input_free(&in);
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    p->c = c;
    p->wrap = wrap;
    memcpy(p->sid, sid, sizeof sid);
    conv_params_t cp = {.session_id = sid, .owner = params->owner, .input = &in, .stream = 0};
    p->job = conv_process(&cp, &events, p);
    conv_input_free(&in);
    if (!p->job) {
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        http_end_async(c);
        free(p);
    }
}

REST_CONV_FN(rest_conv_process) { process(c, req, params, body, len, 0); }

REST_CONV_FN(rest_conv_transcription) { process(c, req, params, body, len, 1); }

/* ---- reads of the stored history ---- */

enum read_kind { R_CONTEXT, R_SUMMARY, R_STATUS, R_CLEAR };

typedef struct read_pending {
    conn_t *c; /* NULL once the client went away */
    int kind;
    char sid[CONV_SESSION_MAX + 1];
} read_pending_t;

static void read_abort(conn_t *c, void *data)
{
    (void)c;
    ((read_pending_t *)data)->c = NULL;
}

static char *encode_read(const read_pending_t *r, PGresult *res)
{
    if (r->kind == R_CLEAR) return conv_cleared(r->sid);
    int rows = PQntuples(res);
    conv_turn_t *t = calloc((size_t)rows + 1, sizeof *t);
    if (!t) return NULL;
    for (int i = 0; i < rows; i++)
        t[i] = (conv_turn_t){PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                             PQgetvalue(res, i, 3)};
    char *json = r->kind == R_CONTEXT   ? conv_context(t, (size_t)rows)
                 : r->kind == R_SUMMARY ? conv_summary(t, (size_t)rows)
                                        : conv_status(t, (size_t)rows, r->sid);
    free(t);
    return json;
}

static void read_done(void *ud, PGresult *res, const char *err)
{
    read_pending_t *r = ud;
    if (!r->c) {
    } else if (!res) {
        stats_add(&net->stats->storage_errors, 1);
        http_respond_error(r->c, 503, "STORAGE_UNAVAILABLE", err ? err : DB_ERR_UNAVAILABLE);
    } else {
        respond_json(r->c, 200, encode_read(r, res));
    }
    if (r->c) http_end_async(r->c);
    free(r);
}

static void read_session(conn_t *c, const http_request_t *req, const route_params_t *params,
                         int kind)
{
    read_pending_t *r = calloc(1, sizeof *r);
    if (!r) {
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    if (session_of(c, req, params, 0, r->sid) < 0) {
        free(r);
        return;
    }
    if (!http_begin_async(c, req, read_abort, r)) {
        free(r);
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    r->c = c;
    r->kind = kind;
    db_req_t *q = kind == R_CLEAR
                      ? store_conv_clear(r->sid, params->owner, read_done, r)
                      : store_conv_history(r->sid, params->owner, (int)net->cfg->conv_history_max,
                                           read_done, r);
    if (!q) {
        stats_add(&net->stats->storage_errors, 1);
        http_respond_error(c, 503, "STORAGE_UNAVAILABLE", DB_ERR_UNAVAILABLE);
        http_end_async(c);
        free(r);
    }
}

REST_CONV_FN(rest_conv_context)
{
    (void)body;
    (void)len;
    read_session(c, req, params, R_CONTEXT);
}

REST_CONV_FN(rest_conv_summary)
{
    (void)body;
    (void)len;
    read_session(c, req, params, R_SUMMARY);
}

REST_CONV_FN(rest_conv_status)
{
    (void)body;
    (void)len;
    read_session(c, req, params, R_STATUS);
}

REST_CONV_FN(rest_conv_clear)
{
    (void)body;
    (void)len;
    read_session(c, req, params, R_CLEAR);
}

/* ---- batch: in memory, the rules, nothing stored ---- */

REST_CONV_FN(rest_conv_batch)
{
    (void)req;
    (void)params;
    conv_input_t *ins;
    size_t n;
    char *conv_id;
    conv_errs_t errs;
    if (conv_batch_parse(body ? body : "", body ? len : 0, net->cfg->conv_batch_max, &ins, &n,
                         &conv_id, &errs) < 0) {
        respond_422(c, &errs);
        return;
    }
    conv_turn_t *t = calloc(n + 1, sizeof *t);
    conv_suggestion_t *s = calloc(n + 1, sizeof *s);
    for (size_t i = 0; t && s && i < n; i++) {
        t[i] = (conv_turn_t){ins[i].speaker, ins[i].sentiment, ins[i].emotion, ins[i].text};
        conv_rules_analyze(t, i + 1, &s[i]);
    }
    if (t && s)
        respond_json(c, 200, conv_batch_answer(conv_id, ins, s, n));
    else
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
    for (size_t i = 0; i < n; i++) conv_input_free(&ins[i]);
    free(ins);
    free(t);
    free(s);
    free(conv_id);
}
