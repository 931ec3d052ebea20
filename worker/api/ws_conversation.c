/* /ws/conversation (SPEC S4.5, seed 003): the live conversation
 * assistant. On connect {"type":"session_init","session_id"}: a new uuid,
 * or ?session_id= (an existing session is resumed with its memory; an
 * unknown one is created under that id, as the seed's webhook twin does).
 * Every connection of a session subscribes to "conversation:<id>", where
 * every suggestion of the session is published (worker/svc/conversation.h),
 * so watchers on any worker see them and the producing connection gets
 * its own suggestion once, from the ring. Inputs of one connection are
 * analysed one after another, in order (at most conversation.max_pending
 * waiting). Heartbeat: {"type":"ping"} every conversation.ping_interval;
 * no {"type":"pong"} within conversation.pong_timeout: close 1008. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ids.h"
#include "protocol/conversation.h"
#include "worker/net/net.h"
#include "worker/net/pubsub.h"
#include "worker/net/route.h"
#include "worker/net/ws.h"
#include "worker/svc/conversation.h"

typedef struct conv_conn {
    conn_t *c;
    char sid[CONV_SESSION_MAX + 1];
    int stream_default;
    loop_timer_t hb;
    int awaiting_pong;
    conv_job_t *job;
    conv_input_t *q; /* ring of waiting inputs */
    size_t qhead, qn, qcap;
} conv_conn_t;

static void send_error(conn_t *c, const char *error, const char *code, const char *details,
                       int recoverable)
{
    stats_add(&net->stats->errors, 1);
    ws_send_owned(c, conv_error(error, code, details, recoverable));
}

/* Transport errors (RATE_LIMITED ...): the endpoint's error shape. */
static void conv_send_error(conn_t *c, const char *code, const char *message)
{
    char low[32];
    size_t i = 0;
    for (; code[i] && i + 1 < sizeof low; i++)
        low[i] = (char)(code[i] >= 'A' && code[i] <= 'Z' ? code[i] + 32 : code[i]);
    low[i] = '\0';
    send_error(c, low, code, message, 1);
}

static void heartbeat(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    conv_conn_t *s = t->data;
    if (s->awaiting_pong) {
        stats_add(&net->stats->keepalive_timeouts, 1);
        ws_close(s->c, 1008, "no pong");
        return;
    }
    ws_send_text(s->c, CONV_PING, strlen(CONV_PING));
    s->awaiting_pong = 1;
    loop_timer_start(net->loop, &s->hb, net->cfg->conv_pong_timeout_ms, heartbeat, s);
}

static void start_next(conv_conn_t *s);

static void ev_token(void *ud, const char *content, const char *full_text)
{
    conv_conn_t *s = ud;
    ws_send_owned(s->c, conv_token(content, full_text));
}

static void ev_done(void *ud, const conv_suggestion_t *sg, const char *json, int published,
                    int is_default)
{
    (void)sg;
    (void)is_default;
    conv_conn_t *s = ud;
    s->job = NULL;
    if (!published) ws_send_text(s->c, json, strlen(json)); /* else it comes from the ring */
    start_next(s);
}

static void ev_error(void *ud, const char *error, const char *code, const char *details)
{
    conv_conn_t *s = ud;
    s->job = NULL;
    if (strcmp(code, "STORAGE_UNAVAILABLE") == 0) stats_add(&net->stats->storage_errors, 1);
    send_error(s->c, error, code, details, strcmp(code, "FORBIDDEN") != 0);
    start_next(s);
}

static const conv_events_t events = {ev_token, ev_done, ev_error};

static void start_next(conv_conn_t *s)
{
    if (s->job || !s->qn) return;
    conv_input_t in = s->q[s->qhead];
    s->qhead = (s->qhead + 1) % s->qcap;
    s->qn--;
    conv_params_t p = {
        .session_id = s->sid,
        .owner = s->c->sub,
        .input = &in,
        .stream = in.stream == 1 || (in.stream < 0 && s->stream_default),
    };
    s->job = conv_process(&p, &events, s);
    conv_input_free(&in);
    if (!s->job) send_error(s->c, "internal_error", "INTERNAL_ERROR", "out of memory", 1);
}

/* ?session_id= (validated) or a new uuid; ?stream=1|true. -1: refused. */
static int read_query(conv_conn_t *s, const ws_route_open_t *o)
{
    ids_uuid4(s->sid);
    if (!o) return 0;
    char v[CONV_SESSION_MAX + 2];
    if (http_query_has(&o->req, "session_id")) {
        int n = http_query_param(&o->req, "session_id", v, sizeof v);
        if (n <= 0 || !conv_session_valid(v, (size_t)n)) return -1;
        memcpy(s->sid, v, (size_t)n + 1);
    }
    int n = http_query_param(&o->req, "stream", v, sizeof v);
    s->stream_default = n > 0 && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
    return 0;
}

static void conv_on_open(conn_t *c, void *open_arg)
{
    conv_conn_t *s = calloc(1, sizeof *s);
    size_t cap = net->cfg->conv_max_pending;
    if (s) s->q = calloc(cap, sizeof *s->q);
    if (!s || !s->q) {
        if (s) free(s);
        ws_close(c, 1011, "out of memory");
        return;
    }
    s->c = c;
    s->qcap = cap;
    c->ep_data = s;
    if (read_query(s, open_arg) < 0) {
        ws_send_owned(
            c, conv_validation_error("session_id: 1 to 64 characters among A-Z a-z 0-9 _ . : -"));
        ws_close(c, 1008, "invalid session_id");
        return;
    }
    char ch[CONV_SESSION_MAX + 32];
    conv_channel(ch, sizeof ch, s->sid);
    if (pubsub_subscribe(c, ch, strlen(ch)) < 0) {
        ws_close(c, 1011, "out of memory");
        return;
    }
    ws_send_owned(c, conv_session_init(s->sid));
    loop_timer_start(net->loop, &s->hb, net->cfg->conv_ping_interval_ms, heartbeat, s);
}

static void on_input(conv_conn_t *s, const char *msg, size_t len)
{
    conv_input_t in;
    conv_errs_t errs;
    if (conv_input_parse(msg, len, &in, &errs) < 0) {
        char details[1024];
        conv_errs_text(&errs, details, sizeof details);
        stats_add(&net->stats->errors, 1);
        ws_send_owned(s->c, conv_validation_error(details));
        return;
    }
    if (s->qn >= s->qcap) {
        conv_input_free(&in);
        send_error(s->c, "too_many_requests", "TOO_MANY_REQUESTS",
                   "too many inputs waiting for analysis; wait for the suggestions", 1);
        return;
    }
    s->q[(s->qhead + s->qn) % s->qcap] = in;
    s->qn++;
    start_next(s);
}

static void conv_on_text(conn_t *c, const char *msg, size_t len)
{
    conv_conn_t *s = c->ep_data;
    if (!s) return;
    switch (conv_control_type(msg, len)) {
    case 1: ws_send_text(c, CONV_PONG, strlen(CONV_PONG)); break;
    case 2:
        if (s->awaiting_pong) {
            s->awaiting_pong = 0;
            loop_timer_start(net->loop, &s->hb, net->cfg->conv_ping_interval_ms, heartbeat, s);
        }
        break;
    default: on_input(s, msg, len);
    }
}

static void conv_on_close(conn_t *c)
{
    conv_conn_t *s = c->ep_data;
    if (!s) return;
    loop_timer_stop(net->loop, &s->hb);
    conv_detach(s->job); /* it still stores and publishes its suggestion */
    for (size_t i = 0; i < s->qn; i++) conv_input_free(&s->q[(s->qhead + i) % s->qcap]);
    free(s->q);
    free(s);
    c->ep_data = NULL;
}

const endpoint_t ep_conversation = {
    .path = "/ws/conversation",
    .on_open = conv_on_open,
    .on_text = conv_on_text,
    .on_close = conv_on_close,
    .send_error = conv_send_error,
};
