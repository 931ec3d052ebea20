/* The conversation session service (see conversation.h). */
#include "worker/svc/conversation.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "worker/svc/conv_rules.h"
#include "worker/svc/llm.h"
#include "worker/svc/store_conv.h"
#include "worker/svc/svc.h"
#include "worker/svc/webhook.h"

#define PROMPT_MAX (16u * 1024) /* bytes of transcript sent to a model (the end of it) */
#define ANSWER_MAX (64u * 1024) /* bytes of a model's answer kept */

struct conv_job {
    conv_job_t *prev, *next;
    conv_events_t ev;
    void *ud;
    int detached;
    char sid[CONV_SESSION_MAX + 1];
    char *owner;
    conv_input_t in;
    int stream, french;
    int64_t conv_id, msg_id;
    db_req_t *req;
    llm_stream_t *llm;
    buf_t answer;
    conv_suggestion_t rules; /* computed with the history; the fallback */
    loop_timer_t later;
    char err[24], code[32], details[128];
};

static conv_job_t *jobs;

int conv_channel(char *out, size_t cap, const char *session_id)
{
    int n = snprintf(out, cap, "%s%s", CONV_CHANNEL_PREFIX, session_id);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static void job_free(conv_job_t *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        jobs = j->next;
    if (j->next) j->next->prev = j->prev;
    loop_timer_stop(svc->loop, &j->later);
    buf_free(&j->answer);
    conv_input_free(&j->in);
    free(j->owner);
    free(j);
}

static void fail_now(conv_job_t *j)
{
    if (!j->detached) j->ev.on_error(j->ud, j->err, j->code, j->details);
    job_free(j);
}

static void fail_later_cb(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    fail_now(t->data);
}

/* Errors found inside conv_process are reported from the loop. */
static void fail(conv_job_t *j, int later, const char *err, const char *code, const char *details)
{
    snprintf(j->err, sizeof j->err, "%s", err);
    snprintf(j->code, sizeof j->code, "%s", code);
    snprintf(j->details, sizeof j->details, "%s", details);
    if (later)
        loop_timer_start(svc->loop, &j->later, 0, fail_later_cb, j);
    else
        fail_now(j);
}

static void emit_critical(const conv_job_t *j, const conv_suggestion_t *s)
{
    char *data = conv_critical_data(j->sid, &j->in, s);
    if (!data || webhook_emit("critical_objection", data) < 0)
        log_warn("conversation %s: critical_objection webhook event not queued", j->sid);
    free(data);
}

/* Store, publish, notify: the end of every job that got its input stored. */
static void finish(conv_job_t *j, const conv_suggestion_t *s, const char *source, int is_default)
{
    char *json = conv_suggestion_encode(s);
    char *meta = conv_suggestion_metadata(s, source, (long long)j->msg_id);
    int published = 0;
    if (meta && j->conv_id) store_conv_suggestion(j->conv_id, s->direction, meta, NULL, NULL);
    if (json && !is_default) {
        char ch[CONV_SESSION_MAX + 32];
        if (conv_channel(ch, sizeof ch, j->sid) > 0)
            published = svc->publish(ch, strlen(ch), json, strlen(json)) == 0;
    }
    if (!is_default && conv_sugg_has_signal(s, SIG_STRONG)) emit_critical(j, s);
    if (!j->detached) {
        if (json)
            j->ev.on_done(j->ud, s, json, published, is_default);
        else
            j->ev.on_error(j->ud, "internal_error", "INTERNAL_ERROR",
                           "the suggestion could not be encoded");
    }
    free(json);
    free(meta);
    job_free(j);
}

static void finish_default(conv_job_t *j)
{
    conv_suggestion_t s;
    conv_rules_default(j->french, &s);
    finish(j, &s, "default", 1);
}

/* The builtin "streams" the direction: one token per word. */
static void stream_words(conv_job_t *j, const char *text)
{
    buf_t full = BUF_INIT(0);
    const char *p = text;
    while (*p && !j->detached) {
        const char *e = strchr(p + 1, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char *tok = strndup(p, n);
        if (!tok || buf_append(&full, p, n) < 0) {
            free(tok);
            break;
        }
        j->ev.on_token(j->ud, tok, full.data);
        free(tok);
        p += n;
    }
    buf_free(&full);
}

static void llm_token(void *ud, const char *text, size_t len)
{
    conv_job_t *j = ud;
    if (buf_append(&j->answer, text, len) < 0) return; /* over ANSWER_MAX: invalid anyway */
    if (!j->stream || j->detached) return;
    char *tok = strndup(text, len);
    if (tok) j->ev.on_token(j->ud, tok, j->answer.data);
    free(tok);
}

static void llm_done(void *ud, uint32_t tokens)
{
    (void)tokens;
    conv_job_t *j = ud;
    j->llm = NULL;
    conv_suggestion_t s;
    if (j->answer.data && conv_suggestion_from_llm(j->answer.data, &s) == 0) {
        finish(j, &s, "llm", 0);
        return;
    }
    log_warn("conversation %s: the model's answer is not a valid suggestion; rules used", j->sid);
    finish(j, &j->rules, "rules", 0);
}

static void llm_error(void *ud, const char *code, const char *message)
{
    (void)code;
    conv_job_t *j = ud;
    j->llm = NULL;
    log_warn("conversation %s: LLM unavailable (%s); rules used", j->sid, message);
    finish(j, &j->rules, "rules", 0);
}

static const char SYSTEM_PROMPT[] =
    "You assist a sales agent during a live call. Read the transcript and answer with one JSON "
    "object only, no prose: {\"questions\": [two or three short questions the agent could ask "
    "next], \"signals_detected\": [signals among \"pricing objection\", \"interest expressed\", "
    "\"hesitation\", \"strong objection\", \"urgency\", \"competitor mention\", \"buying "
    "signal\", \"frustration\"], \"recommended_direction\": \"one sentence for the agent\"}. "
    "Write the questions and the direction in the language of the last message.";

/* The transcript (its last PROMPT_MAX bytes, whole lines) as the user turn. */
static char *transcript(PGresult *res, int rows)
{
    buf_t b = BUF_INIT(0);
    int first = rows;
    size_t total = 0;
    while (first > 0) {
        size_t l = strlen(PQgetvalue(res, first - 1, 3)) + 64;
        if (total + l > PROMPT_MAX && first < rows) break;
        total += l;
        first--;
    }
    for (int i = first; i < rows; i++)
        buf_printf(&b, "[%s] (sentiment: %s, emotion: %s): %s\n", PQgetvalue(res, i, 0),
                   PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
    buf_append_str(&b, "Analyse the last message and answer with the JSON object.");
    return buf_take(&b);
}

static void ask_model(conv_job_t *j, PGresult *res, int rows)
{
    char *user = transcript(res, rows);
    llm_message_t msgs[2] = {{"system", SYSTEM_PROMPT}, {"user", user ? user : ""}};
    llm_request_t req = {.messages = msgs,
                         .n_messages = 2,
                         .question = j->in.text,
                         .temperature = -1,
                         .json_mode = 1};
    static const llm_callbacks_t cbs = {llm_token, llm_done, llm_error};
    j->answer.max = ANSWER_MAX;
    j->llm = user ? llm_start(&req, &cbs, j) : NULL;
    free(user);
    if (!j->llm) finish(j, &j->rules, "rules", 0);
}

static void history_cb(void *ud, PGresult *res, const char *err)
{
    (void)err;
    conv_job_t *j = ud;
    j->req = NULL;
    if (!res) {
        finish_default(j);
        return;
    }
    int rows = PQntuples(res);
    conv_turn_t *t = calloc((size_t)rows + 1, sizeof *t);
    if (!t) {
        finish_default(j);
        return;
    }
    for (int i = 0; i < rows; i++)
        t[i] = (conv_turn_t){PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                             PQgetvalue(res, i, 3)};
    if (rows == 0) /* cleared meanwhile: the input alone */
        t[rows++] = (conv_turn_t){j->in.speaker, j->in.sentiment, j->in.emotion, j->in.text};
    conv_rules_analyze(t, (size_t)rows, &j->rules);
    free(t);
    if (strcmp(llm_backend_name(), "builtin") != 0 && !j->detached) {
        ask_model(j, res, PQntuples(res));
        return;
    }
    if (j->stream && !j->detached) stream_words(j, j->rules.direction);
    finish(j, &j->rules, "rules", 0);
}

static void input_cb(void *ud, PGresult *res, const char *err)
{
    conv_job_t *j = ud;
    j->req = NULL;
    if (!res) {
        fail(j, 0, "storage_unavailable", "STORAGE_UNAVAILABLE",
             err ? err : "PostgreSQL is unavailable; retry shortly");
        return;
    }
    if (PQntuples(res) != 1) {
        fail(j, 0, "forbidden", "FORBIDDEN", "this session belongs to another user");
        return;
    }
    j->conv_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    j->msg_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    j->req = store_conv_history(j->sid, j->owner, (int)svc->cfg->conv_history_max, history_cb, j);
    if (!j->req) finish_default(j);
}

conv_job_t *conv_process(const conv_params_t *p, const conv_events_t *ev, void *ud)
{
    conv_job_t *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->ev = *ev;
    j->ud = ud;
    snprintf(j->sid, sizeof j->sid, "%s", p->session_id);
    /* "" (a token without sub) owns like no token: the WebSocket side has NULL */
    j->owner = p->owner && *p->owner ? strdup(p->owner) : NULL;
    j->in = *p->input;
    j->in.text = strdup(p->input->text);
    j->stream = p->stream;
    j->french = conv_rules_french(p->input->text);
    j->next = jobs;
    if (jobs) jobs->prev = j;
    jobs = j;
    char *meta = conv_input_metadata(&j->in);
    if (!j->in.text || !meta || (p->owner && *p->owner && !j->owner)) {
        free(meta);
        fail(j, 1, "internal_error", "INTERNAL_ERROR", "out of memory");
        return j;
    }
    const char *role = strcmp(j->in.speaker, "client") == 0 ? "user" : "assistant";
    j->req = store_conv_input(j->sid, j->owner, role, j->in.text, meta, input_cb, j);
    free(meta);
    if (!j->req)
        fail(j, 1, "storage_unavailable", "STORAGE_UNAVAILABLE",
             "PostgreSQL is unavailable; retry shortly");
    return j;
}

void conv_detach(conv_job_t *j)
{
    if (j) j->detached = 1;
}

void conv_shutdown(void)
{
    while (jobs) {
        conv_job_t *j = jobs;
        if (j->req) db_detach(j->req);
        if (j->llm) llm_cancel(j->llm);
        job_free(j);
    }
}
