#include "base/ids.h"
#include "worker/api/engineio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "protocol/socketio.h"
#include "worker/net/handoff.h"
#include "worker/net/http.h"
#include "worker/net/route.h"
#include "worker/net/ws.h"
#include "worker/net/net.h"

#define EIO_BUCKETS   1024
#define EIO_QUEUE_MAX 4096 /* packets waiting for a long-poll GET */
/* During an upgrade a parked GET is released with a noop this often (as
 * engine.io does), so the client can pause polling and send "5". */
#define EIO_UPGRADE_NOOP_MS 100

struct eio_session {
    eio_session_t *hnext;
    char sid[32]; /* Engine.IO session id; names its worker */
    const eio_handler_t *h;
    void *upper;   /* the upper layer's state (h->on_open) */
    conn_t *ws;    /* WebSocket transport (direct, or after the upgrade) */
    conn_t *probe; /* WebSocket being probed during an upgrade */
    conn_t *poll;  /* parked long-poll GET */
    char **q;      /* packets for the next long-poll response */
    uint32_t qn, qcap;
    int awaiting_pong;
    int closing; /* queue overflowed: closed on the next loop turn */
    loop_timer_t ping_timer;
    /* Armed from the probe's "3probe" until "5" or the probe's end: the
     * noops that release every GET parked meanwhile (upgrade_tick). */
    loop_timer_t upgrade_timer;
};

/* The session table of this worker: process context, set up empty. */
static eio_session_t *sessions[EIO_BUCKETS];

/* ---- what this module takes from the worker (the process contexts it reads) ---- */

static loop_t *ctx_loop(void) { return net->loop; }
static const ragws_config_t *ctx_cfg(void) { return net->cfg; }
static worker_stats_t *ctx_stats(void) { return net->stats; }
static int ctx_slot_idx(void) { return net->slot_idx; }
static int ctx_draining(void) { return net->draining; }
static shm_slot_t *ctx_slot(int i) { return &net->shm->slots[i]; }

/* ---- the session table ---- */

static uint32_t sid_hash(const char *sid)
{
    uint32_t h = 2166136261u;
    for (; *sid; sid++) h = (h ^ (unsigned char)*sid) * 16777619u;
    return h % EIO_BUCKETS;
}

static eio_session_t *find_session(const char *sid)
{
    for (eio_session_t *s = sessions[sid_hash(sid)]; s; s = s->hnext)
        if (strcmp(s->sid, sid) == 0) return s;
    return NULL;
}

void *eio_upper(const eio_session_t *s) { return s->upper; }
const char *eio_sid(const eio_session_t *s) { return s->sid; }

/* ---- sending: WebSocket frame, or queued for the next long-poll ---- */

static void flush_poll(eio_session_t *s);
static void close_slow(loop_t *loop, loop_timer_t *t);

static int queue_packet(eio_session_t *s, const char *pkt, size_t len)
{
    if (s->qn >= EIO_QUEUE_MAX) {
        /* The client stopped polling while events kept coming: like a
         * slow WebSocket consumer, end it rather than grow or drop silently. */
        if (!s->closing) {
            s->closing = 1;
            stats_add(&ctx_stats()->slow_consumers, 1);
            log_warn("socket.io session %s: %u packets waiting for a poll; closing", s->sid, s->qn);
            loop_timer_start(ctx_loop(), &s->ping_timer, 0, close_slow, s);
        }
        return -1;
    }
    if (s->qn == s->qcap) {
        uint32_t cap = s->qcap ? s->qcap * 2 : 8;
        char **q = realloc(s->q, cap * sizeof *q);
        if (!q) return -1;
        s->q = q;
        s->qcap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, pkt, len);
    copy[len] = 0;
    s->q[s->qn++] = copy;
    return 0;
}

void eio_send(eio_session_t *s, const char *pkt, size_t len) { eio_send_at(s, pkt, len, 0); }

void eio_send_at(eio_session_t *s, const char *pkt, size_t len, uint64_t arrived_ns)
{
    if (s->ws) {
        ws_send_text_at(s->ws, pkt, len, arrived_ns);
        return;
    }
    if (queue_packet(s, pkt, len) == 0 && s->poll) flush_poll(s);
}

void eio_send_frame(eio_session_t *s, outbuf_t *frame, const char *pkt, size_t len)
{
    if (s->ws) {
        /* The same framed bytes for every WebSocket member of the room. */
        stats_add(&ctx_stats()->messages_out, 1);
        conn_send(s->ws, outbuf_ref(frame));
        return;
    }
    eio_send(s, pkt, len);
}

static const char poll_headers[] = "Access-Control-Allow-Credentials: true\r\n"
                                   "Cache-Control: no-store\r\n";

/* Answer the parked GET with every queued packet that fits maxPayload. */
static void flush_poll(eio_session_t *s)
{
    conn_t *c = s->poll;
    if (!c || !s->qn) return;
    size_t max = ctx_cfg()->sio_max_payload, len = 0;
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
static void answer_poll(eio_session_t *s, const char *pkt)
{
    conn_t *c = s->poll;
    if (!c) return;
    s->poll = NULL;
    http_respond(c, 200, "text/plain; charset=UTF-8", pkt, strlen(pkt), poll_headers);
    http_end_async(c);
}

/* ---- session lifetime ---- */

static void ping_due(loop_t *loop, loop_timer_t *t);

static void session_close(eio_session_t *s, const char *why)
{
    log_debug("socket.io session %s closed: %s", s->sid, why);
    loop_timer_stop(ctx_loop(), &s->ping_timer);
    loop_timer_stop(ctx_loop(), &s->upgrade_timer);
    s->h->on_close(s);
    s->upper = NULL;
    eio_session_t **pp = &sessions[sid_hash(s->sid)];
    while (*pp && *pp != s) pp = &(*pp)->hnext;
    if (*pp) *pp = s->hnext;
    stats_sub(&ctx_stats()->sio_sessions, 1);
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
    free(s);
}

static void close_slow(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    session_close(t->data, "slow consumer: too many packets waiting for a poll");
}

static void ping_due(loop_t *loop, loop_timer_t *t)
{
    eio_session_t *s = t->data;
    if (s->awaiting_pong) {
        session_close(s, "ping timeout");
        return;
    }
    s->awaiting_pong = 1;
    eio_send(s, "2", 1);
    loop_timer_start(loop, t, ctx_cfg()->sio_ping_timeout_ms, ping_due, s);
}

static eio_session_t *session_new(const eio_handler_t *h)
{
    eio_session_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    /* slot, pid, random: any worker can tell whose session this is. */
    snprintf(s->sid, sizeof s->sid, "%02x%08x", ctx_slot_idx(), (unsigned)getpid());
    ids_random_hex(s->sid + 10, 8);
    s->h = h;
    if (!(s->upper = h->on_open(s))) {
        free(s);
        return NULL;
    }
    uint32_t b = sid_hash(s->sid);
    s->hnext = sessions[b];
    sessions[b] = s;
    stats_add(&ctx_stats()->sio_sessions, 1);
    loop_timer_start(ctx_loop(), &s->ping_timer, ctx_cfg()->sio_ping_interval_ms, ping_due, s);
    return s;
}

static char *open_packet(eio_session_t *s, int allow_upgrade)
{
    const ragws_config_t *cfg = ctx_cfg();
    return eio_open(s->sid, allow_upgrade, cfg->sio_ping_interval_ms, cfg->sio_ping_timeout_ms,
                    cfg->sio_max_payload);
}

/* ---- packets from the client, whatever their transport ---- */

/* The probe was answered, "5" has not come yet. The noop sent with
 * "3probe" released the GET pending then; but the client reads "3probe"
 * (its WebSocket) and the poll answers (other connections) in any order, so
 * it may poll again before it sees "3probe". Once it has, it pauses polling
 * until that GET returns, and only then sends "5"; its emits wait until
 * the switch. So a GET parked during the upgrade is released too. */
static void upgrade_tick(loop_t *loop, loop_timer_t *t)
{
    eio_session_t *s = t->data;
    answer_poll(s, "6");
    loop_timer_start(loop, t, EIO_UPGRADE_NOOP_MS, upgrade_tick, s);
}

/* Upgrade done: queued packets go out over the WebSocket. */
static void upgrade_done(eio_session_t *s)
{
    loop_timer_stop(ctx_loop(), &s->upgrade_timer);
    s->ws = s->probe;
    s->probe = NULL;
    for (uint32_t i = 0; i < s->qn; i++) {
        ws_send_text(s->ws, s->q[i], strlen(s->q[i]));
        free(s->q[i]);
    }
    s->qn = 0;
    answer_poll(s, "6");
}

static void on_packet(eio_session_t *s, conn_t *from, const char *pkt, size_t len)
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
            /* The pending long-poll returns so the client can switch, and
             * so does every later one until it does (upgrade_tick). */
            eio_send(s, "6", 1);
            loop_timer_start(ctx_loop(), &s->upgrade_timer, EIO_UPGRADE_NOOP_MS, upgrade_tick, s);
        }
        return;
    case '3':
        if (s->awaiting_pong && !s->closing) {
            s->awaiting_pong = 0;
            loop_timer_start(ctx_loop(), &s->ping_timer, ctx_cfg()->sio_ping_interval_ms, ping_due,
                             s);
        }
        return;
    case '4': s->h->on_message(s, pkt + 1, len - 1); return;
    case '5':
        if (from && from == s->probe) upgrade_done(s);
        return;
    default: return; /* 6 noop, unknown */
    }
}

/* ---- the WebSocket transport ---- */

/* What eio_http hands to ws_upgrade for on_open: the session being
 * upgraded (NULL for a WebSocket-only session) and the upper layer. */
typedef struct ws_open_arg {
    eio_session_t *s;
    const eio_handler_t *h;
} ws_open_arg_t;

static void eio_ws_open(conn_t *c, void *open_arg)
{
    const ws_open_arg_t *arg = open_arg;
    eio_session_t *s = arg->s;
    if (s) {
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
    s = session_new(arg->h);
    if (!s) {
        ws_close(c, 1011, "out of memory");
        return;
    }
    s->ws = c;
    c->ep_data = s;
    char *open = open_packet(s, 0);
    if (!open) {
        log_error("socket.io session %s: a packet could not be encoded, dropped", s->sid);
        return;
    }
    eio_send(s, open, strlen(open));
    free(open);
}

static void eio_ws_text(conn_t *c, const char *msg, size_t len)
{
    eio_session_t *s = c->ep_data;
    if (s) on_packet(s, c, msg, len);
}

static void eio_ws_close(conn_t *c)
{
    eio_session_t *s = c->ep_data;
    if (!s) return;
    c->ep_data = NULL;
    if (s->probe == c) {
        s->probe = NULL;
        loop_timer_stop(ctx_loop(), &s->upgrade_timer); /* no upgrade any more */
    }
    if (s->ws == c) {
        s->ws = NULL;
        session_close(s, "transport closed");
    }
}

static void eio_ws_error(conn_t *c, const char *code, const char *message)
{
    eio_session_t *s = c->ep_data;
    if (s) s->h->on_transport_error(s, code, message);
}

/* Not in the route table: reached through eio_http only. */
static const endpoint_t ep_engineio = {
    .path = "/socket.io/",
    .own_auth = 1,
    .binary_refused_in_protocol = 1,
    .on_open = eio_ws_open,
    .on_text = eio_ws_text,
    .on_close = eio_ws_close,
    .send_error = eio_ws_error,
};

/* ---- the HTTP side: handshake, long-polling, upgrade, hand-over ---- */

static void eio_error(conn_t *c, int code, const char *message)
{
    char *body = eio_error_body(code, message);
    stats_add(&ctx_stats()->errors, 1);
    if (!body) {
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    http_respond(c, 400, "application/json", body, strlen(body), poll_headers);
    free(body);
}

static void poll_abort(conn_t *c, void *data)
{
    (void)c;
    eio_session_t *s = data;
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
    shm_slot_t *sl = ctx_slot((int)slot);
    uint32_t st = atomic_load(&sl->state);
    if ((st != SLOT_READY && st != SLOT_DRAINING) || (unsigned long)atomic_load(&sl->pid) != pid)
        return -1;
    return (int)slot;
}

/* The checks every request passes: protocol version, transport, Origin.
 * 1 with *websocket, *has_sid and sid set; 0 when answered. */
static int check_request(conn_t *c, const http_request_t *req, int *websocket, int *has_sid,
                         char *sid, size_t sid_len)
{
    char eio[8], transport[16];
    if (http_query_param(req, "EIO", eio, sizeof eio) < 0 || strcmp(eio, "4") != 0) {
        eio_error(c, 5, "Unsupported protocol version");
        return 0;
    }
    if (http_query_param(req, "transport", transport, sizeof transport) < 0 ||
        (strcmp(transport, "polling") != 0 && strcmp(transport, "websocket") != 0)) {
        eio_error(c, 0, "Transport unknown");
        return 0;
    }
    *has_sid = http_query_param(req, "sid", sid, sid_len) > 0;
    *websocket = strcmp(transport, "websocket") == 0;
    if (!http_origin_allowed(req)) {
        eio_error(c, 4, "Origin not allowed");
        return 0;
    }
    return 1;
}

/* The session a request names: 0 with *out set when it is this worker's,
 * -1 when the request was handed over to its owner, 1 when answered. */
static int find_owned(conn_t *c, const char *sid, eio_session_t **out)
{
    int owner = sid_owner(sid), self = ctx_slot_idx();
    if (owner >= 0 && owner != self) {
        /* Another worker's session: give it the socket. */
        if (handoff_send(c, owner) == 0) return -1;
        http_respond_error(c, 503, "HANDOFF_FAILED", "retry the request");
        return 1;
    }
    *out = owner == self ? find_session(sid) : NULL;
    if (!*out) {
        eio_error(c, 1, "Session ID unknown");
        return 1;
    }
    return 0;
}

/* transport=websocket: a new WebSocket-only session, or the probe of an
 * upgrade of s. */
static int websocket_request(conn_t *c, const http_request_t *req, eio_session_t *s,
                             const eio_handler_t *h, const char *rest, size_t rest_len)
{
    const http_header_t *u = http_find_header(req, "Upgrade");
    if (!http_method_is(req, "GET") || !u ||
        !http_value_has_token(u->value, u->value_len, "websocket")) {
        eio_error(c, 3, "Bad request");
        return 1;
    }
    ws_open_arg_t arg = {.s = s, .h = h};
    ws_upgrade(c, req, &ep_engineio, rest, rest_len, &arg);
    return -1;
}

/* A polling request without sid: the handshake. */
static int handshake(conn_t *c, const http_request_t *req, const eio_handler_t *h)
{
    if (!http_method_is(req, "GET")) {
        eio_error(c, 3, "Bad handshake method");
        return 1;
    }
    if (ctx_draining()) {
        http_respond_error(c, 503, "SHUTTING_DOWN", "server is restarting");
        return 1;
    }
    eio_session_t *s = session_new(h);
    char *open = s ? open_packet(s, 1) : NULL;
    if (!open) {
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        return 1;
    }
    http_respond(c, 200, "text/plain; charset=UTF-8", open, strlen(open), poll_headers);
    free(open);
    return 1;
}

/* GET: park the request until a packet is due (at once if some wait). */
static int poll_get(conn_t *c, const http_request_t *req, eio_session_t *s)
{
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

/* POST: the client's packets, answered "ok" first (they may close the
 * session). */
static int poll_post(conn_t *c, eio_session_t *s, const char *body, size_t body_len)
{
    if (body_len > ctx_cfg()->sio_max_payload) {
        http_respond_error(c, 413, "PAYLOAD_TOO_LARGE", "over socketio.max_payload");
        session_close(s, "payload too large");
        return 1;
    }
    http_respond(c, 200, "text/html", "ok", 2, poll_headers);
    char sid_copy[32];
    snprintf(sid_copy, sizeof sid_copy, "%s", s->sid);
    size_t pos = 0, start = 0;
    long n;
    while ((n = eio_next_packet(body, body_len, &pos)) >= 0) {
        if (find_session(sid_copy) != s) break; /* closed by an earlier packet */
        on_packet(s, NULL, body + start, (size_t)n);
        start = pos;
    }
    return 1;
}

int eio_http(conn_t *c, const http_request_t *req, const char *body, size_t body_len,
             const char *rest, size_t rest_len, const eio_handler_t *h)
{
    if (http_method_is(req, "OPTIONS")) {
        http_respond(c, 204, "text/plain", "", 0,
                     "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                     "Access-Control-Allow-Headers: Content-Type, Authorization\r\n"
                     "Access-Control-Allow-Credentials: true\r\n");
        return 1;
    }
    int websocket, has_sid;
    char sid[40];
    if (!check_request(c, req, &websocket, &has_sid, sid, sizeof sid)) return 1;
    eio_session_t *s = NULL;
    if (has_sid) {
        int r = find_owned(c, sid, &s);
        if (r) return r;
    }
    if (websocket) return websocket_request(c, req, s, h, rest, rest_len);
    if (!s) return handshake(c, req, h);
    if (s->ws) {
        eio_error(c, 3, "Bad request: session uses websocket");
        return 1;
    }
    if (http_method_is(req, "GET")) return poll_get(c, req, s);
    if (!http_method_is(req, "POST")) {
        eio_error(c, 2, "Bad request method");
        return 1;
    }
    return poll_post(c, s, body, body_len);
}
