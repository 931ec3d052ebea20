#include "worker/net/ws.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "worker/net/http.h"
#include "worker/net/net.h"
#include "worker/net/pubsub.h"

/* How long we wait for the peer's close frame after sending ours. */
#define WS_CLOSE_WAIT_MS 3000

/* ---- wslay callbacks: wslay reads from c->feed and writes into c->out ---- */

static ssize_t cb_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    conn_t *c = ud;
    if (!c->feed_len) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < c->feed_len ? len : c->feed_len;
    memcpy(buf, c->feed, n);
    c->feed += n;
    c->feed_len -= n;
    return (ssize_t)n;
}

static ssize_t cb_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    (void)flags;
    conn_t *c = ud;
    outbuf_t *b = outbuf_new(len);
    if (!b) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    memcpy(b->data, data, len);
    if (conn_queue(c, b) < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int rate_allows(conn_t *c)
{
    const ragws_config_t *cfg = net->cfg;
    uint64_t now = loop_now_ms(net->loop);
    c->tokens += (double)(now - c->tokens_ms) * cfg->rate_limit / 1000.0;
    if (c->tokens > cfg->rate_burst) c->tokens = cfg->rate_burst;
    c->tokens_ms = now;
    if (c->tokens >= 1.0) {
        c->tokens -= 1.0;
        /* A client back under its rate is forgiven. */
        if (c->tokens >= cfg->rate_burst - 1) c->strikes = 0;
        return 1;
    }
    return 0;
}

static void cb_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud)
{
    (void)ctx;
    conn_t *c = ud;
    if (c->state != CONN_WS) return;
    switch (arg->opcode) {
    case WSLAY_PONG: c->ping_sent_ms = 0; return;
    case WSLAY_PING:
    case WSLAY_CONNECTION_CLOSE: return; /* wslay answers these itself */
    default: break;
    }
    if (c->flags & CF_CLOSING) return;
    stats_add(&net->stats->messages_in, 1);
    if (arg->opcode == WSLAY_BINARY_FRAME && c->ep->binary_refused_in_protocol) {
        /* Socket.IO attachments: the text packet announcing them already
         * got its error event; the connection goes on. */
        return;
    }
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        stats_add(&net->stats->errors, 1);
        ws_close(c, 1003, "binary frames are not accepted; send JSON text");
        return;
    }
    /* Admin producers (/ws/publish) are trusted and meant for high rates. */
    if (!c->ep->no_rate_limit && !rate_allows(c)) {
        stats_add(&net->stats->rate_limited, 1);
        if (++c->strikes >= net->cfg->rate_limit_strikes) {
            stats_add(&net->stats->errors, 1);
            ws_close(c, 1008, "rate limit exceeded repeatedly");
        } else if (c->ep->send_error) {
            c->ep->send_error(c, "RATE_LIMITED",
                              "over the per-connection message rate; message dropped");
        }
        return;
    }
    if (c->ep->on_text) c->ep->on_text(c, (const char *)arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = cb_recv,
    .send_callback = cb_send,
    .on_msg_recv_callback = cb_msg,
};

static int ensure_wslay(conn_t *c)
{
    if (c->wslay) return 0;
    if (wslay_event_context_server_init(&c->wslay, &ws_callbacks, c) != 0) {
        c->wslay = NULL;
        return -1;
    }
    wslay_event_config_set_max_recv_msg_length(c->wslay, net->cfg->max_message_bytes);
    return 0;
}

void ws_release(conn_t *c)
{
    if (c->wslay) wslay_event_context_free(c->wslay);
    c->wslay = NULL;
}

/* ---- frame boundary tracking (see ws_scan_t) ---- */

static void scan_bytes(ws_scan_t *s, const uint8_t *p, size_t n)
{
    while (n) {
        if (s->payload_left) {
            size_t k = s->payload_left < n ? (size_t)s->payload_left : n;
            s->payload_left -= k;
            p += k;
            n -= k;
            continue;
        }
        s->hdr[s->hdr_len++] = *p++;
        n--;
        if (s->hdr_len < 2) continue;
        uint8_t len7 = s->hdr[1] & 0x7f;
        size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((s->hdr[1] & 0x80) ? 4 : 0);
        if (s->hdr_len < need) continue;
        uint64_t plen = len7;
        if (len7 == 126) plen = ((uint64_t)s->hdr[2] << 8) | s->hdr[3];
        if (len7 == 127) {
            plen = 0;
            for (int i = 2; i < 10; i++) plen = (plen << 8) | s->hdr[i];
        }
        uint8_t opcode = s->hdr[0] & 0x0f;
        if (opcode < 0x8) s->in_fragmented = !(s->hdr[0] & 0x80);
        s->payload_left = plen;
        s->hdr_len = 0;
    }
}

static int scan_at_boundary(const ws_scan_t *s)
{
    return !s->payload_left && !s->hdr_len && !s->in_fragmented;
}

/* After wslay has consumed input or queued output: settle the close state
 * and drop the context when the connection is idle again. */
static void after_wslay(conn_t *c)
{
    if (c->state != CONN_WS || !c->wslay) return;
    if (wslay_event_want_write(c->wslay) && wslay_event_send(c->wslay) != 0) {
        conn_close(c, "wslay send failed");
        return;
    }
    if (c->state != CONN_WS) return;
    int sent = wslay_event_get_close_sent(c->wslay);
    int received = wslay_event_get_close_received(c->wslay);
    /* Both closes exchanged, or wslay closed on a protocol error and will
     * read nothing more: the handshake cannot progress, finish it. */
    if ((sent && received) || (sent && !wslay_event_get_read_enabled(c->wslay))) {
        c->flags |= CF_CLOSE_AFTER_FLUSH | CF_CLOSING;
        if (!c->out.len) conn_close(c, "close handshake done");
        return;
    }
    if (sent && !(c->flags & CF_CLOSING)) {
        /* wslay closed on its own (1002, 1007, 1009 ...). */
        c->flags |= CF_CLOSING;
        c->deadline_ms = loop_now_ms(net->loop) + WS_CLOSE_WAIT_MS;
        stats_add(&net->stats->errors, 1);
    }
    if (!sent && !received && scan_at_boundary(&c->scan) && !wslay_event_want_write(c->wslay))
        ws_release(c); /* idle: 8 KiB back */
}

/* A client Close frame that lies whole in data, starting at a frame
 * boundary reached by walking the frames from the scanner's position.
 * Returns its offset or -1. Only well-formed closes (FIN, no RSV, masked,
 * payload <= 125) are taken; anything else is left to wslay. */
static long find_client_close(const ws_scan_t *s, const uint8_t *data, size_t len,
                              size_t *frame_len)
{
    if (s->hdr_len || s->in_fragmented) return -1;
    size_t p = s->payload_left < len ? (size_t)s->payload_left : len;
    if (s->payload_left > len) return -1;
    while (p + 2 <= len) {
        uint8_t b0 = data[p], b1 = data[p + 1];
        uint64_t plen = b1 & 0x7f;
        size_t hl = 2 + (plen == 126 ? 2 : plen == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
        if (p + hl > len) return -1;
        if (plen == 126) plen = ((uint64_t)data[p + 2] << 8) | data[p + 3];
        if (plen == 127) {
            plen = 0;
            for (int i = 2; i < 10; i++) plen = (plen << 8) | data[p + i];
        }
        if ((b0 & 0x0f) == WSLAY_CONNECTION_CLOSE) {
            if (b0 != 0x88 || !(b1 & 0x80) || plen > 125 || p + hl + plen > len) return -1;
            *frame_len = hl + (size_t)plen;
            return (long)p;
        }
        if (plen > len - p - hl) return -1;
        p += hl + (size_t)plen;
    }
    return -1;
}

/* RFC 6455 7.4: codes a peer may send (1012-1014 registered with IANA). */
static int close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* The client's Close, answered here rather than by wslay, which answers
 * 1012-1014 and a 1-byte payload wrongly (SPEC S12): echo a valid code,
 * 1002 for a bad one, 1007 for a reason that is not UTF-8. */
static void client_close(conn_t *c, const uint8_t *frame, size_t flen)
{
    size_t hl = 6, plen = flen - hl;
    uint8_t payload[125];
    for (size_t i = 0; i < plen; i++) payload[i] = frame[hl + i] ^ frame[2 + (i & 3)];
    if (!(c->flags & CF_CLOSING)) {
        unsigned code = 0;
        if (plen == 1) {
            code = 1002;
        } else if (plen >= 2) {
            code = (unsigned)payload[0] << 8 | payload[1];
            if (!close_code_valid(code)) {
                code = 1002;
            } else {
                /* jansson refuses invalid UTF-8: the library's check, not ours */
                json_t *reason = json_stringn((const char *)payload + 2, plen - 2);
                if (!reason) code = 1007;
                json_decref(reason);
            }
        }
        uint8_t reply[4] = {0x88, code ? 2 : 0, (uint8_t)(code >> 8), (uint8_t)code};
        conn_queue_copy(c, (const char *)reply, code ? 4 : 2);
        if (c->state != CONN_WS) return;
    }
    c->flags |= CF_CLOSING | CF_CLOSE_AFTER_FLUSH;
    if (!c->out.len) conn_close(c, "close handshake done");
}

static void ws_feed_wslay(conn_t *c, const uint8_t *data, size_t len);

void ws_feed(conn_t *c, const uint8_t *data, size_t len)
{
    size_t flen = 0;
    long at = find_client_close(&c->scan, data, len, &flen);
    if (at < 0) {
        ws_feed_wslay(c, data, len);
        return;
    }
    if (at > 0) ws_feed_wslay(c, data, (size_t)at);
    if (c->state == CONN_WS) client_close(c, data + at, flen);
}

static void ws_feed_wslay(conn_t *c, const uint8_t *data, size_t len)
{
    if (ensure_wslay(c) < 0) {
        conn_close(c, "out of memory");
        return;
    }
    scan_bytes(&c->scan, data, len);
    c->feed = data;
    c->feed_len = len;
    int rc = wslay_event_recv(c->wslay);
    c->feed = NULL;
    c->feed_len = 0;
    if (rc != 0) {
        /* A protocol error (oversized or fragmented control frame ...):
         * wslay queues a close without a status code; RFC 6455 7.4.1 has
         * 1002 for this, so say that instead, then end the connection. */
        if (c->state != CONN_WS) return;
        if (rc == WSLAY_ERR_NOMEM) {
            conn_close(c, "out of memory");
            return;
        }
        static const char close_1002[] = "\x88\x10\x03\xeaprotocol error";
        if (!(c->flags & CF_CLOSING)) conn_send_copy(c, close_1002, sizeof close_1002 - 1);
        if (c->state != CONN_WS) return;
        stats_add(&net->stats->errors, 1);
        c->flags |= CF_CLOSING | CF_CLOSE_AFTER_FLUSH;
        if (!c->out.len) conn_close(c, "WebSocket protocol error");
        return;
    }
    after_wslay(c);
}

void ws_on_readable(conn_t *c)
{
    for (;;) {
        if (c->state != CONN_WS) return;
        ssize_t n = read(c->watch.fd, net->scratch, net->scratch_cap);
        if (n > 0) {
            stats_add(&net->stats->bytes_in, (uint64_t)n);
            ws_feed(c, (const uint8_t *)net->scratch, (size_t)n);
            continue;
        }
        if (n == 0) {
            conn_close(c, "peer closed the connection");
            return;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) conn_close(c, strerror(errno));
        return;
    }
}

outbuf_t *ws_frame_text(const char *data, size_t len)
{
    size_t hl = len < 126 ? 2 : len <= 0xffff ? 4 : 10;
    outbuf_t *b = outbuf_new(hl + len);
    if (!b) return NULL;
    uint8_t *h = (uint8_t *)b->data;
    h[0] = 0x81; /* FIN + text */
    if (len < 126) {
        h[1] = (uint8_t)len;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(b->data + hl, data, len);
    return b;
}

int ws_send_text_at(conn_t *c, const char *data, size_t len, uint64_t arrived_ns)
{
    if (c->state != CONN_WS || (c->flags & CF_CLOSING)) return -1;
    outbuf_t *b = ws_frame_text(data, len);
    if (!b) {
        conn_close(c, "out of memory");
        return -1;
    }
    if (arrived_ns) { /* the flush observes the token's latency */
        b->publish_ns = arrived_ns;
        b->is_token = 1;
    }
    stats_add(&net->stats->messages_out, 1);
    return conn_send(c, b);
}

int ws_send_text(conn_t *c, const char *data, size_t len)
{
    return ws_send_text_at(c, data, len, 0);
}

int ws_send_owned_at(conn_t *c, char *json, uint64_t arrived_ns)
{
    if (!json) { /* an encoder failed (out of memory): never a partial answer */
        log_error("connection %u: a message could not be encoded; closing with 1011", c->id);
        ws_close(c, 1011, "internal error");
        return -1;
    }
    int rc = ws_send_text_at(c, json, strlen(json), arrived_ns);
    free(json);
    return rc;
}

int ws_send_owned(conn_t *c, char *json) { return ws_send_owned_at(c, json, 0); }

void ws_close(conn_t *c, uint16_t code, const char *reason)
{
    if (c->state != CONN_WS || (c->flags & CF_CLOSING)) return;
    if (ensure_wslay(c) < 0) {
        conn_close(c, "out of memory");
        return;
    }
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > 123) rlen = 123; /* control frame payload limit */
    wslay_event_queue_close(c->wslay, code, (const uint8_t *)reason, rlen);
    c->flags |= CF_CLOSING;
    c->deadline_ms = loop_now_ms(net->loop) + WS_CLOSE_WAIT_MS;
    after_wslay(c);
}

void ws_sweep(conn_t *c, uint64_t now)
{
    const ragws_config_t *cfg = net->cfg;
    if (c->flags & CF_CLOSING) {
        if (now >= c->deadline_ms) conn_close(c, "close handshake timed out");
        return;
    }
    if (c->ping_sent_ms && now - c->ping_sent_ms >= cfg->keepalive_timeout_ms) {
        stats_add(&net->stats->keepalive_timeouts, 1);
        conn_close(c, "no pong within keepalive_timeout");
        return;
    }
    if (now >= c->next_ping_ms) {
        c->next_ping_ms = now + cfg->keepalive_interval_ms;
        if (!c->ping_sent_ms) c->ping_sent_ms = now;
        conn_queue(c, outbuf_ref(net->ping_frame));
    }
}
