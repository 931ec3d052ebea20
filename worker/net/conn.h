/* A client connection: HTTP/1.1 until it upgrades, then a WebSocket.
 *
 * Memory per idle WebSocket is this struct alone: the HTTP input buffer is
 * freed after the upgrade, the send queue exists only while bytes wait, and
 * the wslay context only while a frame or a close is in progress
 * (worker/net/ws.c). */
#ifndef RAGWS_WORKER_CONN_H
#define RAGWS_WORKER_CONN_H

#include <netinet/in.h>
#include <stdint.h>
#include <wslay/wslay.h>

#include "base/loop.h"
#include "worker/net/outbuf.h"

struct endpoint;
struct channel;
struct http_request;
struct http_body;

enum conn_state {
    CONN_HTTP = 0,
    CONN_WS = 1,
    CONN_CLOSED = 2, /* fd closed, memory freed after this batch */
};

enum conn_flag {
    CF_DIRTY = 1 << 0,         /* on the worker's flush list */
    CF_BLOCKED = 1 << 1,       /* last write hit EAGAIN: wait for EPOLLOUT */
    CF_CLOSE_AFTER_FLUSH = 1 << 2,
    CF_LOOPBACK = 1 << 3,
    CF_CLOSING = 1 << 4,       /* WebSocket close sent; ignore new messages */
    CF_HAD_REQUEST = 1 << 5,   /* at least one HTTP request completed */
    CF_READ_AGAIN = 1 << 6,    /* body bite read: on net->read_again (http.c) */
    CF_KEEPALIVE = 1 << 7,     /* current HTTP request allows keep-alive */
    CF_SLOW = 1 << 8,          /* closed as a slow consumer */
    CF_HEAD = 1 << 10,
    CF_HANDED_OVER = 1 << 11,  /* socket passed to or from another worker: another
                                  process may still hold it, so close() alone
                                  would not take it out of our epoll set */         /* current request is HEAD: no body in the answer */
    CF_HTTP_PENDING = 1 << 9,  /* a REST answer is being computed (ep_data: http_pending_t) */
    CF_HTTP_RESUME = 1 << 12,  /* an async answer ended: parse waiting input (http_resume) */
    CF_TRUSTED_PROXY = 1 << 13, /* peer is in server.trusted_proxies */
    CF_CONTINUE_SENT = 1 << 14, /* "100 Continue" answered the current request's Expect */
};

#define CONN_MAX_SUBS 2

/* Tracks WebSocket frame boundaries in the byte stream, so that the wslay
 * context can be dropped exactly when no frame is half received. */
typedef struct ws_scan {
    uint64_t payload_left; /* payload bytes of the current frame still due */
    uint8_t hdr[14];
    uint8_t hdr_len;       /* header bytes of the next frame seen so far */
    uint8_t in_fragmented; /* a data message is split over frames */
} ws_scan_t;

typedef struct conn_sub {
    struct channel *ch;
    uint32_t idx; /* position in ch->subs */
} conn_sub_t;

typedef struct conn {
    loop_watch_t watch;
    struct conn *prev, *next; /* worker's list of all connections */
    struct conn *dirty_next;
    uint8_t state;
    uint8_t nsubs;
    uint16_t flags;
    uint16_t strikes; /* rate-limit violations */
    /* HTTP: the allowed Origin of the request being handled, at
     * c->in + origin_off (origin_len 0 outside http.c's handling of a
     * request, or when it has none), for the CORS headers. */
    uint16_t origin_len;
    uint32_t id;
    uint32_t origin_off;
    struct in6_addr peer; /* IPv4 mapped into IPv6 */
    char *sub;            /* JWT "sub" verified at the upgrade (NULL: none) */

    /* HTTP: unparsed input (allocated while a request is incomplete). Not
     * a buf_t (base/buf.h): read(2) writes straight into its spare
     * capacity, the hand-over sends and adopts it as it is, and buf_t's
     * wider fields would grow every connection by 16 bytes. */
    char *in;
    uint32_t in_len, in_cap;
    /* HTTP: the body being received (chunked, or streamed to a handler),
     * NULL otherwise (worker/net/http.c). */
    struct http_body *body;

    outq_t out;

    /* WebSocket */
    wslay_event_context_ptr wslay;
    ws_scan_t scan;
    const uint8_t *feed; /* bytes being handed to wslay */
    size_t feed_len;
    const struct endpoint *ep;
    void *ep_data;
    conn_sub_t subs[CONN_MAX_SUBS];
    double tokens;
    uint64_t tokens_ms;

    uint64_t deadline_ms; /* handshake/idle timeout (HTTP), close wait (WS) */
    uint64_t next_ping_ms;
    uint64_t ping_sent_ms; /* 0 when no ping is outstanding */
} conn_t;

/* Queue bytes (takes the caller's reference) and schedule a flush. Returns
 * -1 if the connection was closed as a slow consumer. */
int conn_send(conn_t *c, outbuf_t *b);
int conn_send_copy(conn_t *c, const char *data, size_t len);
/* Queue without the send_buffer_limit check (control frames, closes). */
int conn_queue(conn_t *c, outbuf_t *b);
int conn_queue_copy(conn_t *c, const char *data, size_t len);

/* Close now: unsubscribe, close fd, free after this batch. */
void conn_close(conn_t *c, const char *why);

/* Put c on the list the loop's before-sleep hook flushes (conn_flush_dirty). */
void conn_mark_dirty(conn_t *c);

/* Write as much queued output as the socket takes (one writev). */
void conn_flush(conn_t *c);

/* A socket handed over by another worker with the bytes it had read. */
void conn_adopt(int fd, const char *bytes, size_t len);

/* Accept loop callback and the flush hook (worker.c wires them). */
void conn_accept_ready(loop_t *loop, loop_watch_t *w, uint32_t events);
void conn_flush_dirty(void);

/* Is the client of this request on loopback (SPEC S7, admin without a
 * token)? A direct peer that is not a trusted proxy counts only if the
 * request carries no X-Forwarded-For / Forwarded (something forwarded it);
 * through a trusted proxy, the client named by those headers (rightmost
 * address that is not itself a trusted proxy) decides. */
int conn_request_loopback(const conn_t *c, const struct http_request *req);

/* Dotted/hex text of the peer address (for logs and per-IP limits). */
const char *conn_peer_text(const conn_t *c, char *buf, size_t len);

#endif
