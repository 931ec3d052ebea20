#include "base/ids.h"
#include "worker/api/socketio.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/log.h"
#include "protocol/json_msg.h"
#include "protocol/socketio.h"
#include "worker/api/engineio.h"
#include "worker/net/pubsub.h"
#include "worker/svc/auth.h"
#include "worker/svc/jobs.h"
#include "worker/svc/rag.h"
#include "worker/net/net.h"

typedef struct sio_socket sio_socket_t;

/* One RAG answer in flight for a socket (in its svc/jobs.h list; j first). */
typedef struct sio_job {
    job_t j;
    sio_socket_t *s;
    json_t *chat_id;
} sio_job_t;

/* The Socket.IO state of one Engine.IO session (its upper pointer). */
struct sio_socket {
    eio_session_t *eio;
    char sio_sid[24]; /* Socket.IO socket id on "/" */
    int connected;    /* namespace "/" connected */
    pubsub_hook_t room;
    char project_id[49];      /* current room, "" for none */
    json_t *project_json;     /* the project_id as the client sent it */
    json_t *chat_json;        /* the last chat_id as the client sent it */
    uint64_t connected_at_ms; /* wall clock, for the metadata */
    jobs_t jobs;
    char *sub; /* JWT sub of the CONNECT auth: owner of its conversations */
};

/* ---- what this module takes from the worker (the process contexts it reads) ---- */

static const ragws_config_t *ctx_cfg(void) { return net->cfg; }
static worker_stats_t *ctx_stats(void) { return net->stats; }

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

int sio_is_path(const http_request_t *req)
{
    return (req->path_len == 11 && memcmp(req->path, "/socket.io/", 11) == 0) ||
           (req->path_len == 10 && memcmp(req->path, "/socket.io", 10) == 0);
}

int sio_project_id_valid(const char *s, size_t len) { return name_valid(s, len, 48, "_-"); }

/* ---- sending ---- */

static void send_owned_at(sio_socket_t *s, char *pkt, uint64_t arrived_ns)
{
    if (!pkt) { /* an encoder failed: out of memory */
        log_error("socket.io session %s: a packet could not be encoded, dropped", eio_sid(s->eio));
        return;
    }
    eio_send_at(s->eio, pkt, strlen(pkt), arrived_ns);
    free(pkt);
}

static void send_owned(sio_socket_t *s, char *pkt) { send_owned_at(s, pkt, 0); }

static void emit(sio_socket_t *s, const char *event, json_t *data)
{
    send_owned(s, sio_event(event, data));
    json_decref(data);
}

static void ack_or_nothing(sio_socket_t *s, int64_t ack_id, json_t *data)
{
    if (ack_id >= 0) send_owned(s, sio_ack(ack_id, data));
    json_decref(data);
}

/* The same data as the ack (when one was asked) and as `event`. */
static void ack_and_emit(sio_socket_t *s, int64_t ack_id, const char *event, json_t *data)
{
    ack_or_nothing(s, ack_id, json_incref(data));
    emit(s, event, data);
}

/* "error" {message, code, chat_id?} (and the ack when one was asked). */
static void emit_error_code(sio_socket_t *s, int64_t ack_id, const char *code, const char *message,
                            json_t *chat_id)
{
    json_t *d = sio_error_data(code, message, chat_id);
    stats_add(&ctx_stats()->errors, 1);
    if (ack_id >= 0) send_owned(s, sio_ack(ack_id, d));
    emit(s, "error", d);
}

static void emit_error(sio_socket_t *s, int64_t ack_id, const char *message, json_t *chat_id)
{
    emit_error_code(s, ack_id, ERR_VALIDATION, message, chat_id);
}

/* ---- the job list (running RAG answers of a socket: svc/jobs.h) ---- */

static sio_job_t *job_new(sio_socket_t *s, json_t *chat_id)
{
    sio_job_t *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->s = s;
    j->chat_id = json_incref(chat_id);
    return j;
}

static void job_free(sio_job_t *j)
{
    json_decref(j->chat_id);
    free(j);
}

static void release_job(job_t *j) { job_free((sio_job_t *)j); }

/* ---- rooms ---- */

static sio_socket_t *room_socket(pubsub_hook_t *h)
{
    return (sio_socket_t *)((char *)h - offsetof(sio_socket_t, room));
}

static void room_deliver(pubsub_hook_t *h, outbuf_t *frame, const char *payload, size_t len)
{
    eio_send_frame(room_socket(h)->eio, frame, payload, len);
}

static void room_resync(pubsub_hook_t *h, const char *channel, uint64_t missed)
{
    emit(room_socket(h), "resync", sio_resync_data(channel, missed));
}

static void leave_room(sio_socket_t *s)
{
    pubsub_hook_unsubscribe(&s->room);
    s->project_id[0] = 0;
    json_decref(s->project_json);
    s->project_json = NULL;
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

static void join_project(sio_socket_t *s, json_t *data, int64_t ack)
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
    ack_and_emit(s, ack, "project_joined", sio_project_data(pid));
}

static void leave_project(sio_socket_t *s, json_t *data, int64_t ack)
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
    ack_and_emit(s, ack, "project_left", sio_project_data(pid));
}

/* ---- a RAG answer, as events ---- */

static void ev_stored(void *ud, int64_t conv, int64_t msg)
{
    (void)conv;
    (void)msg;
    sio_job_t *j = ud;
    emit(j->s, "message_received", sio_chat_data(j->chat_id));
}

static void ev_sources(void *ud, const rag_source_t *src, size_t n)
{
    sio_job_t *j = ud;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, sio_source(src[i].chunk_id, src[i].document_id, src[i].filename,
                                              src[i].page, src[i].content, src[i].score));
    emit(j->s, "message_sources", sio_sources_data(j->chat_id, arr));
}

static void ev_token(void *ud, const char *text, size_t len, uint32_t position, uint64_t arrived_ns)
{
    (void)position;
    sio_job_t *j = ud;
    json_t *data = sio_token_data(j->chat_id, text, len);
    send_owned_at(j->s, sio_event("message_token", data), arrived_ns);
    json_decref(data);
}

static void ev_complete(void *ud, const rag_result_t *r)
{
    sio_job_t *j = ud;
    emit(j->s, "message_complete",
         sio_complete_data(j->chat_id, r->model, (int)r->sources_used, r->assistant_message_id));
    jobs_done(&j->j);
}

static void ev_error(void *ud, const char *code, const char *message, const char *stage)
{
    (void)stage;
    sio_job_t *j = ud;
    emit_error_code(j->s, -1, code, message, j->chat_id);
    jobs_done(&j->j);
}

static const rag_events_t sio_events = {
    .on_stored = ev_stored,
    .on_sources = ev_sources,
    .on_token = ev_token,
    .on_complete = ev_complete,
    .on_error = ev_error,
};

/* What is wrong with a send_message, NULL when nothing. */
static const char *send_message_invalid(const sio_socket_t *s, json_t *chat, json_t *data)
{
    json_t *msg = json_object_get(data, "message");
    json_t *model = json_object_get(data, "model");
    json_t *temp = json_object_get(data, "temperature");
    json_t *hist = json_object_get(data, "include_history");
    if (!chat) return "send_message needs chat_id (integer or short string)";
    if (!json_is_string(msg) || !json_string_length(msg))
        return "send_message needs message (non-empty string)";
    if (json_string_length(msg) > 8192 || strlen(json_string_value(msg)) != json_string_length(msg))
        return "message must be at most 8192 bytes of text";
    if (model && !json_is_null(model) &&
        (!json_is_string(model) || json_string_length(model) > 128))
        return "model must be a string";
    if (temp && !json_is_null(temp) &&
        (!json_is_number(temp) || json_number_value(temp) < 0 || json_number_value(temp) > 2))
        return "temperature must be a number from 0 to 2";
    if (hist && !json_is_null(hist) && !json_is_boolean(hist))
        return "include_history must be true or false";
    if (!jobs_room(&s->jobs)) return "too many messages in flight; wait for message_complete";
    return NULL;
}

static void send_message(sio_socket_t *s, json_t *data, int64_t ack)
{
    json_t *chat = json_id(json_object_get(data, "chat_id"));
    const char *bad = send_message_invalid(s, chat, data);
    if (bad) {
        emit_error(s, ack, bad, chat);
        return;
    }
    json_t *model = json_object_get(data, "model");
    json_t *temp = json_object_get(data, "temperature");
    json_t *hist = json_object_get(data, "include_history");
    char ext[65];
    id_text(chat, ext, sizeof ext);
    json_decref(s->chat_json);
    s->chat_json = json_incref(chat);
    sio_job_t *j = job_new(s, chat);
    if (!j) return;
    rag_params_t p = {
        .question = json_string_value(json_object_get(data, "message")),
        .max_results = 5,
        .mode = "balanced",
        .temperature = temp && json_is_number(temp) ? json_number_value(temp) : -1,
        .model = json_is_string(model) ? json_string_value(model) : NULL,
        .conv_kind = "socketio",
        .conv_external_id = ext,
        .owner = s->sub,
        .include_history = !hist || json_is_null(hist) || json_is_true(hist),
    };
    rag_job_t *job = rag_start(&p, &sio_events, j);
    if (!job) {
        job_free(j);
        emit_error_code(s, ack, ERR_INTERNAL, "out of memory", chat);
        return;
    }
    jobs_add(&s->jobs, &j->j, job);
    ack_or_nothing(s, ack, sio_accepted_data(chat));
}

static void on_event(sio_socket_t *s, sio_packet_t *p)
{
    json_t *arg = json_array_get(p->data, 1);
    json_t *data = json_is_object(arg) ? arg : NULL;
    const char *ev = p->event;
    stats_add(&ctx_stats()->messages_in, 1);
    if (strcmp(ev, "join_project") == 0) {
        join_project(s, data, p->ack_id);
    } else if (strcmp(ev, "leave_project") == 0) {
        leave_project(s, data, p->ack_id);
    } else if (strcmp(ev, "send_message") == 0) {
        send_message(s, data, p->ack_id);
    } else if (strcmp(ev, "ping") == 0) {
        ack_and_emit(s, p->ack_id, "pong", sio_timestamp_data(wall_ms()));
    } else if (strcmp(ev, "get_metadata") == 0) {
        ack_and_emit(s, p->ack_id, "metadata",
                     sio_metadata_data(s->connected_at_ms, s->project_json, s->chat_json));
    } else {
        char msg[160];
        utf8_snprintf(msg, sizeof msg, "unknown event \"%.*s\"", QUOTE(ev));
        emit_error_code(s, p->ack_id, ERR_UNKNOWN_TYPE, msg, NULL);
    }
}

/* ---- the namespace: CONNECT with its own JWT check, DISCONNECT ---- */

/* The JWT of a CONNECT's auth, when the server asks for one: 0 with
 * s->sub set, -1 when refused (the CONNECT_ERROR is sent). */
static int connect_auth(sio_socket_t *s, json_t *auth)
{
    if (ctx_cfg()->auth_mode != AUTH_JWT || !auth_path_protected("/socket.io/", 11)) return 0;
    json_t *tok = json_object_get(auth, "token");
    char sub[AUTH_SUB_MAX], why[128] = "missing token";
    if (json_is_string(tok) && auth_verify(json_string_value(tok), json_string_length(tok), sub,
                                           sizeof sub, why, sizeof why) == 0)
        why[0] = 0;
    if (why[0]) {
        char msg[160];
        snprintf(msg, sizeof msg, "Authentication failed: %s", why);
        stats_add(&ctx_stats()->errors, 1);
        send_owned(s, sio_connect_error("/", msg));
        return -1;
    }
    free(s->sub);
    s->sub = sub[0] ? strdup(sub) : NULL;
    return 0;
}

static void namespace_connect(sio_socket_t *s, sio_packet_t *p)
{
    if (strcmp(p->nsp, "/") != 0) {
        send_owned(s, sio_connect_error(p->nsp, "Invalid namespace"));
        return;
    }
    if (connect_auth(s, p->data) < 0) return;
    s->connected = 1;
    ids_random_hex(s->sio_sid, 10);
    send_owned(s, sio_connect_ok(s->sio_sid));
    emit(s, "connection_status", sio_status_data(s->sio_sid));
}

/* One Socket.IO packet (an Engine.IO message). */
static void on_packet(sio_socket_t *s, const char *data, size_t len)
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
            jobs_cancel_all(&s->jobs);
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

/* ---- the Engine.IO handler ---- */

static void *sio_on_open(eio_session_t *e)
{
    sio_socket_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->eio = e;
    s->room.deliver = room_deliver;
    s->room.resync = room_resync;
    s->connected_at_ms = wall_ms();
    jobs_init(&s->jobs, s, ctx_cfg()->max_inflight_per_connection, rag_cancel_handle, release_job);
    return s;
}

static void sio_on_message(eio_session_t *e, const char *data, size_t len)
{
    on_packet(eio_upper(e), data, len);
}

static void sio_on_transport_error(eio_session_t *e, const char *code, const char *message)
{
    sio_socket_t *s = eio_upper(e);
    if (s->connected) emit_error_code(s, -1, code, message, NULL);
}

static void sio_on_close(eio_session_t *e)
{
    sio_socket_t *s = eio_upper(e);
    leave_room(s);
    jobs_cancel_all(&s->jobs);
    json_decref(s->chat_json);
    free(s->sub);
    free(s);
}

static const eio_handler_t sio_handler = {
    .on_open = sio_on_open,
    .on_message = sio_on_message,
    .on_transport_error = sio_on_transport_error,
    .on_close = sio_on_close,
};

int sio_http(conn_t *c, const http_request_t *req, const char *body, size_t body_len,
             const char *rest, size_t rest_len)
{
    return eio_http(c, req, body, body_len, rest, rest_len, &sio_handler);
}

int sio_room_emit(const char *project_id, const char *event, void *json_data)
{
    char chan[64];
    snprintf(chan, sizeof chan, SIO_ROOM_PREFIX "%s", project_id);
    char *pkt = sio_event(event, json_data);
    if (!pkt) return -1;
    int rc = net_publish(chan, strlen(chan), pkt, strlen(pkt));
    free(pkt);
    return rc;
}
