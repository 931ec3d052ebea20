#include "worker/api/socketio.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#include "protocol/json_msg.h"
#include "protocol/socketio.h"
#include "base/log.h"
#include "worker/svc/auth.h"
#include "worker/net/route.h"
#include "worker/net/handoff.h"
#include "worker/net/http.h"
#include "worker/net/pubsub.h"
#include "worker/svc/rag.h"
#include "worker/worker.h"
#include "worker/net/ws.h"

#define SIO_BUCKETS   1024
#define SIO_QUEUE_MAX 4096 /* packets waiting for a long-poll GET */

typedef struct sio_session sio_session_t;

typedef struct sio_job {
    struct sio_job *next;
    sio_session_t *s;
    rag_job_t *job;
    json_t *chat_id;
} sio_job_t;

struct sio_session {
    sio_session_t *hnext;
    char sid[32];     /* Engine.IO session id; names its worker */
    char sio_sid[24]; /* Socket.IO socket id on "/" */
    conn_t *ws;       /* WebSocket transport (direct, or after the upgrade) */
    conn_t *probe;    /* WebSocket being probed during an upgrade */
    conn_t *poll;     /* parked long-poll GET */
    char **q;         /* packets for the next long-poll response */
    uint32_t qn, qcap;
    int connected; /* Socket.IO namespace "/" connected */
    int awaiting_pong;
    int closing; /* queue overflowed: closed on the next loop turn */
    loop_timer_t ping_timer;
    pubsub_hook_t room;
    char project_id[49];      /* current room, "" for none */
    json_t *project_json;     /* the project_id as the client sent it */
    json_t *chat_json;        /* the last chat_id as the client sent it */
    uint64_t connected_at_ms; /* wall clock, for the metadata */
    sio_job_t *jobs;
    uint32_t n_jobs;
    char *sub; /* JWT sub of the CONNECT auth: owner of its conversations */
};

static sio_session_t *sessions[SIO_BUCKETS];
static sio_session_t *attach_session; /* for the upgrade in progress */
static int attach_probe;

extern const endpoint_t ep_socketio;

static uint32_t sid_hash(const char *sid)
{
    uint32_t h = 2166136261u;
    for (; *sid; sid++) h = (h ^ (unsigned char)*sid) * 16777619u;
    return h % SIO_BUCKETS;
}

static sio_session_t *find_session(const char *sid)
{
    for (sio_session_t *s = sessions[sid_hash(sid)]; s; s = s->hnext)
        if (strcmp(s->sid, sid) == 0) return s;
    return NULL;
}

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char b[16];
    if (bytes > sizeof b) bytes = sizeof b;
    if (getrandom(b, bytes, 0) != (ssize_t)bytes)
        for (size_t i = 0; i < bytes; i++) b[i] = (unsigned char)(loop_clock_ns() >> (8 * (i % 8)));
    for (size_t i = 0; i < bytes; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

int sio_is_path(const http_request_t *req)
{
    return (req->path_len == 11 && memcmp(req->path, "/socket.io/", 11) == 0) ||
           (req->path_len == 10 && memcmp(req->path, "/socket.io", 10) == 0);
}

int sio_project_id_valid(const char *s, size_t len) { return name_valid(s, len, 48, "_-"); }

/* ---- sending: WebSocket frame, or queued for the next long-poll ---- */

static void flush_poll(sio_session_t *s);
static void close_slow(loop_t *loop, loop_timer_t *t);

static void send_packet(sio_session_t *s, const char *pkt, size_t len)
{
    if (s->ws) {
        ws_send_text(s->ws, pkt, len);
        return;
    }
    if (s->qn >= SIO_QUEUE_MAX) {
        /* The client stopped polling while events kept coming: like a
         * slow WebSocket consumer, end it rather than grow or drop silently. */
        if (!s->closing) {
            s->closing = 1;
            stats_add(&wk->stats->slow_consumers, 1);
            log_warn("socket.io session %s: %u packets waiting for a poll; closing", s->sid, s->qn);
            loop_timer_start(wk->loop, &s->ping_timer, 0, close_slow, s);
        }
        return;
    }
    if (s->qn == s->qcap) {
        uint32_t cap = s->qcap ? s->qcap * 2 : 8;
        char **q = realloc(s->q, cap * sizeof *q);
        if (!q) return;
        s->q = q;
        s->qcap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return;
    memcpy(copy, pkt, len);
    copy[len] = 0;
    s->q[s->qn++] = copy;
    if (s->poll) flush_poll(s);
}

static void send_owned(sio_session_t *s, char *pkt)
{
    if (!pkt) { /* an encoder failed: out of memory */
        log_error("socket.io session %s: a packet could not be encoded, dropped", s->sid);
        return;
    }
    send_packet(s, pkt, strlen(pkt));
    free(pkt);
}

static void emit(sio_session_t *s, const char *event, json_t *data)
{
    send_owned(s, sio_event(event, data));
    json_decref(data);
}

static void ack_or_nothing(sio_session_t *s, int64_t ack_id, json_t *data)
{
    if (ack_id >= 0) send_owned(s, sio_ack(ack_id, data));
    json_decref(data);
}

/* "error" {message, code, chat_id?} (and the ack when one was asked). */
static void emit_error_code(sio_session_t *s, int64_t ack_id, const char *code, const char *message,
                            json_t *chat_id)
{
    json_t *d = sio_error_data(code, message, chat_id);
    stats_add(&wk->stats->errors, 1);
    if (ack_id >= 0) send_owned(s, sio_ack(ack_id, d));
    emit(s, "error", d);
}

static void emit_error(sio_session_t *s, int64_t ack_id, const char *message, json_t *chat_id)
{
    emit_error_code(s, ack_id, ERR_VALIDATION, message, chat_id);
}

static const char poll_headers[] = "Access-Control-Allow-Credentials: true\r\n"
                                   "Cache-Control: no-store\r\n";

/* Answer the parked GET with every queued packet that fits maxPayload. */
static void flush_poll(sio_session_t *s)
{
    conn_t *c = s->poll;
    if (!c || !s->qn) return;
    size_t max = wk->cfg->sio_max_payload, len = 0;
    uint32_t n = 0;
    while (n < s->qn) {
        size_t l = strlen(s->q[n]) + (n ? 1 : 0);
        if (n && len + l > max) break;
        len += l;
        n++;
    }
    char *body = malloc(len + 1);
    if (!body) return;
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i) body[off++] = EIO_SEPARATOR;
        size_t l = strlen(s->q[i]);
        memcpy(body + off, s->q[i], l);
        off += l;
        free(s->q[i]);
    }
    memmove(s->q, s->q + n, (s->qn - n) * sizeof *s->q);
    s->qn -= n;
    s->poll = NULL;
    http_respond(c, 200, "text/plain; charset=UTF-8", body, off, poll_headers);
    free(body);
    http_end_async(c);
}

/* Answer the parked long-poll GET, if any, with one control packet. */
static void answer_poll(sio_session_t *s, const char *pkt)
{
    conn_t *c = s->poll;
    if (!c) return;
    s->poll = NULL;
    http_respond(c, 200, "text/plain; charset=UTF-8", pkt, strlen(pkt), poll_headers);
    http_end_async(c);
}

/* ---- session lifetime ---- */

static void ping_due(loop_t *loop, loop_timer_t *t);

static void cancel_jobs(sio_session_t *s)
{
    while (s->jobs) {
        sio_job_t *j = s->jobs;
        s->jobs = j->next;
        rag_cancel(j->job);
        json_decref(j->chat_id);
        free(j);
    }
    s->n_jobs = 0;
}

static void leave_room(sio_session_t *s)
{
    pubsub_hook_unsubscribe(&s->room);
    s->project_id[0] = 0;
    json_decref(s->project_json);
    s->project_json = NULL;
}

static void session_close(sio_session_t *s, const char *why)
{
    log_debug("socket.io session %s closed: %s", s->sid, why);
    loop_timer_stop(wk->loop, &s->ping_timer);
    leave_room(s);
    cancel_jobs(s);
    sio_session_t **pp = &sessions[sid_hash(s->sid)];
    while (*pp && *pp != s) pp = &(*pp)->hnext;
    if (*pp) *pp = s->hnext;
    stats_sub(&wk->stats->sio_sessions, 1);
    /* Tell a waiting long-poll that the session is over. */
    answer_poll(s, "1");
    if (s->ws) {
        s->ws->ep_data = NULL;
        ws_close(s->ws, 1000, why);
    }
    if (s->probe) {
        s->probe->ep_data = NULL;
        ws_close(s->probe, 1000, why);
    }
    for (uint32_t i = 0; i < s->qn; i++) free(s->q[i]);
    free(s->q);
    json_decref(s->chat_json);
    free(s->sub);
    free(s);
}

static void close_slow(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    session_close(t->data, "slow consumer: too many packets waiting for a poll");
}

static void ping_due(loop_t *loop, loop_timer_t *t)
{
    sio_session_t *s = t->data;
    if (s->awaiting_pong) {
        session_close(s, "ping timeout");
        return;
    }
    s->awaiting_pong = 1;
    send_packet(s, "2", 1);
    loop_timer_start(loop, t, wk->cfg->sio_ping_timeout_ms, ping_due, s);
}

static void room_deliver(pubsub_hook_t *h, outbuf_t *frame, const char *payload, size_t len)
{
    sio_session_t *s = (sio_session_t *)((char *)h - offsetof(sio_session_t, room));
    if (s->ws) {
        /* The same framed bytes for every WebSocket member of the room. */
        stats_add(&wk->stats->messages_out, 1);
        conn_send(s->ws, outbuf_ref(frame));
        return;
    }
    send_packet(s, payload, len);
}

static void room_resync(pubsub_hook_t *h, const char *channel, uint64_t missed)
{
    sio_session_t *s = (sio_session_t *)((char *)h - offsetof(sio_session_t, room));
    emit(s, "resync", json_pack("{s:s, s:I}", "channel", channel, "missed", (json_int_t)missed));
}

static sio_session_t *session_new(void)
{
    sio_session_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    /* slot, pid, random: any worker can tell whose session this is. */
    snprintf(s->sid, sizeof s->sid, "%02x%08x", wk->slot_idx, (unsigned)getpid());
    random_hex(s->sid + 10, 8);
    s->room.deliver = room_deliver;
    s->room.resync = room_resync;
    s->connected_at_ms = wall_ms();
    uint32_t b = sid_hash(s->sid);
    s->hnext = sessions[b];
    sessions[b] = s;
    stats_add(&wk->stats->sio_sessions, 1);
    loop_timer_start(wk->loop, &s->ping_timer, wk->cfg->sio_ping_interval_ms, ping_due, s);
    return s;
}

/* ---- the seed 002 events ---- */

static json_t *json_id(json_t *v)
{
    /* chat_id / project_id: an integer or a short string, echoed as sent */
    if (json_is_integer(v)) return v;
    if (json_is_string(v) && sio_project_id_valid(json_string_value(v), json_string_length(v)))
        return v;
    return NULL;
}

static void id_text(json_t *v, char *out, size_t len)
{
    if (json_is_integer(v))
        snprintf(out, len, "%lld", (long long)json_integer_value(v));
    else
        snprintf(out, len, "%s", json_string_value(v));
}

static void join_project(sio_session_t *s, json_t *data, int64_t ack)
{
    json_t *pid = json_id(json_object_get(data, "project_id"));
    if (!pid) {
        emit_error(s, ack, "join_project needs project_id (integer or short string)", NULL);
        return;
    }
    char id[49];
    id_text(pid, id, sizeof id);
    if (!sio_project_id_valid(id, strlen(id))) {
        emit_error(s, ack, "project_id is not valid", NULL);
        return;
    }
    /* One room at a time: joining another leaves the current one. */
    leave_room(s);
    char chan[64];
    snprintf(chan, sizeof chan, SIO_ROOM_PREFIX "%s", id);
    if (pubsub_hook_subscribe(&s->room, chan, strlen(chan)) < 0) {
        emit_error_code(s, ack, ERR_INTERNAL, "out of memory", NULL);
        return;
    }
    snprintf(s->project_id, sizeof s->project_id, "%s", id);
    s->project_json = json_incref(pid);
    json_t *d = json_pack("{s:O}", "project_id", pid);
    ack_or_nothing(s, ack, json_incref(d));
    emit(s, "project_joined", d);
}

static void leave_project(sio_session_t *s, json_t *data, int64_t ack)
{
    json_t *pid = json_id(json_object_get(data, "project_id"));
    if (!pid) {
        emit_error(s, ack, "leave_project needs project_id (integer or short string)", NULL);
        return;
    }
    char id[49];
    id_text(pid, id, sizeof id);
    if (!s->project_id[0] || strcmp(id, s->project_id) != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "not in project %s", id);
        emit_error(s, ack, msg, NULL);
        return;
    }
    leave_room(s);
    json_t *d = json_pack("{s:O}", "project_id", pid);
    ack_or_nothing(s, ack, json_incref(d));
    emit(s, "project_left", d);
}

static void job_done(sio_job_t *j)
{
    sio_session_t *s = j->s;
    sio_job_t **pp = &s->jobs;
    while (*pp && *pp != j) pp = &(*pp)->next;
    if (*pp) *pp = j->next;
    s->n_jobs--;
    json_decref(j->chat_id);
    free(j);
}

static void ev_stored(void *ud, int64_t conv, int64_t msg)
{
    (void)conv;
    (void)msg;
    sio_job_t *j = ud;
    emit(j->s, "message_received", json_pack("{s:O}", "chat_id", j->chat_id));
}

static void ev_sources(void *ud, const rag_source_t *src, size_t n)
{
    sio_job_t *j = ud;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char id[40];
        snprintf(id, sizeof id, "chunk_%lld", (long long)src[i].chunk_id);
        json_t *meta = json_pack("{s:I, s:s}", "document_id", (json_int_t)src[i].document_id,
                                 "filename", src[i].filename);
        json_object_set_new(meta, "page", src[i].page ? json_integer(src[i].page) : json_null());
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:o, s:f}", "id", id, "content", src[i].content,
                                        "metadata", meta, "score", src[i].score));
    }
    emit(j->s, "message_sources", json_pack("{s:O, s:o}", "chat_id", j->chat_id, "sources", arr));
}

static void ev_token(void *ud, const char *text, size_t len, uint32_t position)
{
    (void)position;
    sio_job_t *j = ud;
    json_t *d = json_pack("{s:O}", "chat_id", j->chat_id);
    json_object_set_new(d, "token", json_stringn(text, len));
    emit(j->s, "message_token", d);
}

static void ev_complete(void *ud, const rag_result_t *r)
{
    sio_job_t *j = ud;
    emit(j->s, "message_complete",
         json_pack("{s:O, s:{s:s, s:i, s:I}}", "chat_id", j->chat_id, "metadata", "model", r->model,
                   "sources_count", (int)r->sources_used, "message_id",
                   (json_int_t)r->assistant_message_id));
    job_done(j);
}

static void ev_error(void *ud, const char *code, const char *message, const char *stage)
{
    (void)stage;
    sio_job_t *j = ud;
    emit_error_code(j->s, -1, code, message, j->chat_id);
    job_done(j);
}

static const rag_events_t sio_events = {
    .on_stored = ev_stored,
    .on_sources = ev_sources,
    .on_token = ev_token,
    .on_complete = ev_complete,
    .on_error = ev_error,
};

static void send_message(sio_session_t *s, json_t *data, int64_t ack)
{
    json_t *chat = json_id(json_object_get(data, "chat_id"));
    json_t *msg = json_object_get(data, "message");
    json_t *model = json_object_get(data, "model");
    json_t *temp = json_object_get(data, "temperature");
    json_t *hist = json_object_get(data, "include_history");
    const char *bad = NULL;
    if (!chat)
        bad = "send_message needs chat_id (integer or short string)";
    else if (!json_is_string(msg) || !json_string_length(msg))
        bad = "send_message needs message (non-empty string)";
    else if (json_string_length(msg) > 8192 ||
             strlen(json_string_value(msg)) != json_string_length(msg))
        bad = "message must be at most 8192 bytes of text";
    else if (model && !json_is_null(model) &&
             (!json_is_string(model) || json_string_length(model) > 128))
        bad = "model must be a string";
    else if (temp && !json_is_null(temp) &&
             (!json_is_number(temp) || json_number_value(temp) < 0 || json_number_value(temp) > 2))
        bad = "temperature must be a number from 0 to 2";
    else if (hist && !json_is_null(hist) && !json_is_boolean(hist))
        bad = "include_history must be true or false";
    else if (s->n_jobs >= wk->cfg->max_inflight_per_connection)
        bad = "too many messages in flight; wait for message_complete";
    if (bad) {
        emit_error(s, ack, bad, chat);
        return;
    }
    char ext[65];
    id_text(chat, ext, sizeof ext);
    json_decref(s->chat_json);
    s->chat_json = json_incref(chat);
    sio_job_t *j = calloc(1, sizeof *j);
    if (!j) return;
    j->s = s;
    j->chat_id = json_incref(chat);
    rag_params_t p = {
        .question = json_string_value(msg),
        .max_results = 5,
        .mode = "balanced",
        .temperature = temp && json_is_number(temp) ? json_number_value(temp) : -1,
        .model = json_is_string(model) ? json_string_value(model) : NULL,
        .conv_kind = "socketio",
        .conv_external_id = ext,
        .owner = s->sub,
        .include_history = !hist || json_is_null(hist) || json_is_true(hist),
    };
    j->job = rag_start(&p, &sio_events, j);
    if (!j->job) {
        json_decref(j->chat_id);
        free(j);
        emit_error_code(s, ack, ERR_INTERNAL, "out of memory", chat);
        return;
    }
    j->next = s->jobs;
    s->jobs = j;
    s->n_jobs++;
    ack_or_nothing(s, ack, json_pack("{s:s, s:O}", "status", "accepted", "chat_id", chat));
}

static void on_event(sio_session_t *s, sio_packet_t *p)
{
    json_t *arg = json_array_get(p->data, 1);
    json_t *data = json_is_object(arg) ? arg : NULL;
    const char *ev = p->event;
    stats_add(&wk->stats->messages_in, 1);
    if (strcmp(ev, "join_project") == 0) {
        join_project(s, data, p->ack_id);
    } else if (strcmp(ev, "leave_project") == 0) {
        leave_project(s, data, p->ack_id);
    } else if (strcmp(ev, "send_message") == 0) {
        send_message(s, data, p->ack_id);
    } else if (strcmp(ev, "ping") == 0) {
        json_t *d = json_pack("{s:I}", "timestamp", (json_int_t)wall_ms());
        ack_or_nothing(s, p->ack_id, json_incref(d));
        emit(s, "pong", d);
    } else if (strcmp(ev, "get_metadata") == 0) {
        json_t *d = json_pack("{s:I, s:O, s:O}", "connected_at", (json_int_t)s->connected_at_ms,
                              "project_id", s->project_json ? s->project_json : json_null(),
                              "chat_id", s->chat_json ? s->chat_json : json_null());
        ack_or_nothing(s, p->ack_id, json_incref(d));
        emit(s, "metadata", d);
    } else {
        char msg[160];
        utf8_snprintf(msg, sizeof msg, "unknown event \"%.*s\"", QUOTE(ev));
        emit_error_code(s, p->ack_id, ERR_UNKNOWN_TYPE, msg, NULL);
    }
}

static void namespace_connect(sio_session_t *s, sio_packet_t *p)
{
    if (strcmp(p->nsp, "/") != 0) {
        send_owned(s, sio_connect_error(p->nsp, "Invalid namespace"));
        return;
    }
    if (wk->cfg->auth_mode == AUTH_JWT && auth_path_protected("/socket.io/", 11)) {
        json_t *tok = json_object_get(p->data, "token");
        char sub[AUTH_SUB_MAX], why[128] = "missing token";
        if (json_is_string(tok))
            auth_verify(json_string_value(tok), json_string_length(tok), sub, sizeof sub, why,
                        sizeof why) == 0
                ? (void)(why[0] = 0)
                : (void)0;
        if (why[0]) {
            char msg[160];
            snprintf(msg, sizeof msg, "Authentication failed: %s", why);
            stats_add(&wk->stats->errors, 1);
            send_owned(s, sio_connect_error("/", msg));
            return;
        }
        free(s->sub);
        s->sub = sub[0] ? strdup(sub) : NULL;
    }
    s->connected = 1;
    random_hex(s->sio_sid, 10);
    send_owned(s, sio_connect_ok(s->sio_sid));
    emit(s, "connection_status", json_pack("{s:s, s:s}", "status", "connected", "sid", s->sio_sid));
}

static void on_sio(sio_session_t *s, const char *data, size_t len)
{
    sio_packet_t p;
    const char *code;
    char err[160];
    if (sio_decode(data, len, &p, &code, err, sizeof err) < 0) {
        char msg[200];
        utf8_snprintf(msg, sizeof msg, "malformed packet: %s", err);
        if (s->connected) emit_error_code(s, -1, code, msg, NULL);
        sio_packet_free(&p);
        return;
    }
    switch (p.type) {
    case SIO_CONNECT: namespace_connect(s, &p); break;
    case SIO_DISCONNECT:
        if (strcmp(p.nsp, "/") == 0) {
            s->connected = 0;
            leave_room(s);
            cancel_jobs(s);
        }
        break;
    case SIO_EVENT:
        if (s->connected && strcmp(p.nsp, "/") == 0) on_event(s, &p);
        break;
    case SIO_BINARY_EVENT:
    case SIO_BINARY_ACK:
        if (s->connected) emit_error(s, -1, "binary packets are not supported; send JSON", NULL);
        break;
    default: break; /* acks from the client: we never ask for any */
    }
    sio_packet_free(&p);
}

/* One Engine.IO packet from the client, whatever its transport. */
static void on_eio(sio_session_t *s, conn_t *from, const char *pkt, size_t len)
{
    if (!len) return;
    switch (pkt[0]) {
    case '1':
        /* As engine.io does: the client closed, so the GET it left
         * waiting gets a noop, not a close of its own. */
        answer_poll(s, "6");
        session_close(s, "client closed");
        return;
    case '2':
        if (from && from == s->probe && len == 6 && memcmp(pkt, "2probe", 6) == 0) {
            ws_send_text(from, "3probe", 6);
            /* The pending long-poll returns so the client can switch. */
            send_packet(s, "6", 1);
        }
        return;
    case '3':
        if (s->awaiting_pong && !s->closing) {
            s->awaiting_pong = 0;
            loop_timer_start(wk->loop, &s->ping_timer, wk->cfg->sio_ping_interval_ms, ping_due, s);
        }
        return;
    case '4': on_sio(s, pkt + 1, len - 1); return;
    case '5':
        if (from && from == s->probe) {
            /* Upgrade done: queued packets go out over the WebSocket. */
            s->ws = s->probe;
            s->probe = NULL;
            for (uint32_t i = 0; i < s->qn; i++) {
                ws_send_text(s->ws, s->q[i], strlen(s->q[i]));
                free(s->q[i]);
            }
            s->qn = 0;
            answer_poll(s, "6");
        }
        return;
    default: return; /* 6 noop, unknown */
    }
}

/* ---- the WebSocket side ---- */

static void sio_ws_open(conn_t *c)
{
    sio_session_t *s = attach_session;
    if (s && attach_probe) {
        if (s->ws || s->probe) {
            /* Upgraded, or an upgrade in progress: like engine.io, accept
             * this WebSocket and close it at once (no status code); the
             * session goes on over its transport. */
            ws_close(c, 0, NULL);
            return;
        }
        s->probe = c;
        c->ep_data = s;
        return;
    }
    s = session_new();
    if (!s) {
        ws_close(c, 1011, "out of memory");
        return;
    }
    s->ws = c;
    c->ep_data = s;
    send_owned(s, eio_open(s->sid, 0, wk->cfg->sio_ping_interval_ms, wk->cfg->sio_ping_timeout_ms,
                           wk->cfg->sio_max_payload));
}

static void sio_ws_text(conn_t *c, const char *msg, size_t len)
{
    sio_session_t *s = c->ep_data;
    if (s) on_eio(s, c, msg, len);
}

static void sio_ws_close(conn_t *c)
{
    sio_session_t *s = c->ep_data;
    if (!s) return;
    c->ep_data = NULL;
    if (s->probe == c) s->probe = NULL;
    if (s->ws == c) {
        s->ws = NULL;
        session_close(s, "transport closed");
    }
}

static void sio_ws_error(conn_t *c, const char *code, const char *message)
{
    sio_session_t *s = c->ep_data;
    if (s && s->connected) emit_error_code(s, -1, code, message, NULL);
}

const endpoint_t ep_socketio = {
    .path = "/socket.io/",
    .own_auth = 1,
    .binary_refused_in_protocol = 1,
    .on_open = sio_ws_open,
    .on_text = sio_ws_text,
    .on_close = sio_ws_close,
    .send_error = sio_ws_error,
};

/* ---- the HTTP side: handshake, long-polling, upgrade, hand-over ---- */

static void eio_error(conn_t *c, int code, const char *message)
{
    char body[160];
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, message);
    stats_add(&wk->stats->errors, 1);
    http_respond(c, 400, "application/json", body, (size_t)n, poll_headers);
}

static void poll_abort(conn_t *c, void *data)
{
    (void)c;
    sio_session_t *s = data;
    s->poll = NULL;
}

/* The worker that owns sid, if it is alive; -1 otherwise. */
static int sid_owner(const char *sid)
{
    if (strlen(sid) != 26) return -1;
    char slot_hex[3] = {sid[0], sid[1], 0}, pid_hex[9];
    memcpy(pid_hex, sid + 2, 8);
    pid_hex[8] = 0;
    char *end;
    long slot = strtol(slot_hex, &end, 16);
    if (*end || slot < 0 || slot >= SHM_MAX_SLOTS) return -1;
    unsigned long pid = strtoul(pid_hex, &end, 16);
    if (*end) return -1;
    shm_slot_t *sl = &wk->shm->slots[slot];
    uint32_t st = atomic_load(&sl->state);
    if ((st != SLOT_READY && st != SLOT_DRAINING) || (unsigned long)atomic_load(&sl->pid) != pid)
        return -1;
    return (int)slot;
}

int sio_http(conn_t *c, const http_request_t *req, const char *body, size_t body_len,
             const char *rest, size_t rest_len)
{
    char eio[8], transport[16], sid[40];
    int is_get = req->method_len == 3 && memcmp(req->method, "GET", 3) == 0;
    int is_post = req->method_len == 4 && memcmp(req->method, "POST", 4) == 0;
    if (req->method_len == 7 && memcmp(req->method, "OPTIONS", 7) == 0) {
        http_respond(c, 204, "text/plain", "", 0,
                     "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                     "Access-Control-Allow-Headers: Content-Type, Authorization\r\n"
                     "Access-Control-Allow-Credentials: true\r\n");
        return 1;
    }
    if (http_query_param(req, "EIO", eio, sizeof eio) < 0 || strcmp(eio, "4") != 0) {
        eio_error(c, 5, "Unsupported protocol version");
        return 1;
    }
    if (http_query_param(req, "transport", transport, sizeof transport) < 0 ||
        (strcmp(transport, "polling") != 0 && strcmp(transport, "websocket") != 0)) {
        eio_error(c, 0, "Transport unknown");
        return 1;
    }
    int has_sid = http_query_param(req, "sid", sid, sizeof sid) > 0;
    int websocket = strcmp(transport, "websocket") == 0;
    if (!http_origin_allowed(req)) {
        eio_error(c, 4, "Origin not allowed");
        return 1;
    }

    sio_session_t *s = NULL;
    if (has_sid) {
        int owner = sid_owner(sid);
        if (owner >= 0 && owner != wk->slot_idx) {
            /* Another worker's session: give it the socket. */
            if (handoff_send(c, owner) == 0) return -1;
            http_respond_error(c, 503, "HANDOFF_FAILED", "retry the request");
            return 1;
        }
        s = owner == wk->slot_idx ? find_session(sid) : NULL;
        if (!s) {
            eio_error(c, 1, "Session ID unknown");
            return 1;
        }
    }

    if (websocket) {
        const http_header_t *u = http_find_header(req, "Upgrade");
        if (!is_get || !u || !http_value_has_token(u->value, u->value_len, "websocket")) {
            eio_error(c, 3, "Bad request");
            return 1;
        }
        attach_session = s;
        attach_probe = s != NULL;
        ws_upgrade(c, req, &ep_socketio, rest, rest_len);
        attach_session = NULL;
        attach_probe = 0;
        return -1;
    }

    /* long-polling */
    if (!s) {
        if (!is_get) {
            eio_error(c, 3, "Bad handshake method");
            return 1;
        }
        if (wk->draining) {
            http_respond_error(c, 503, "SHUTTING_DOWN", "server is restarting");
            return 1;
        }
        s = session_new();
        if (!s) {
            http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
            return 1;
        }
        char *open = eio_open(s->sid, 1, wk->cfg->sio_ping_interval_ms,
                              wk->cfg->sio_ping_timeout_ms, wk->cfg->sio_max_payload);
        http_respond(c, 200, "text/plain; charset=UTF-8", open, strlen(open), poll_headers);
        free(open);
        return 1;
    }
    if (s->ws) {
        eio_error(c, 3, "Bad request: session uses websocket");
        return 1;
    }
    if (is_get) {
        if (s->poll) {
            /* Two GETs at once: Engine.IO closes the session (S12). */
            eio_error(c, 3, "Bad request: concurrent long-poll");
            session_close(s, "concurrent long-poll GET");
            return 1;
        }
        if (!http_begin_async(c, req, poll_abort, s)) {
            http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
            return 1;
        }
        s->poll = c;
        flush_poll(s);
        return 1;
    }
    if (!is_post) {
        eio_error(c, 2, "Bad request method");
        return 1;
    }
    if (body_len > wk->cfg->sio_max_payload) {
        http_respond_error(c, 413, "PAYLOAD_TOO_LARGE", "over socketio.max_payload");
        session_close(s, "payload too large");
        return 1;
    }
    /* Answer "ok" first: the packets may close the session. */
    http_respond(c, 200, "text/html", "ok", 2, poll_headers);
    char sid_copy[32];
    snprintf(sid_copy, sizeof sid_copy, "%s", s->sid);
    size_t pos = 0, start = 0;
    long n;
    while ((n = eio_next_packet(body, body_len, &pos)) >= 0) {
        if (find_session(sid_copy) != s) break; /* closed by an earlier packet */
        on_eio(s, NULL, body + start, (size_t)n);
        start = pos;
    }
    return 1;
}

int sio_room_emit(const char *project_id, const char *event, void *json_data)
{
    char chan[64];
    snprintf(chan, sizeof chan, SIO_ROOM_PREFIX "%s", project_id);
    char *pkt = sio_event(event, json_data);
    int rc = worker_publish(chan, strlen(chan), pkt, strlen(pkt));
    free(pkt);
    return rc;
}
