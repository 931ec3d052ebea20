#include "worker/net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <strings.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "worker/net/route.h"
#include "worker/net/http.h"
#include "worker/net/ip_table.h"
#include "worker/net/pubsub.h"
#include "worker/net/net.h"
#include "worker/net/ws.h"

#define FLUSH_IOV 64

net_ctx_t *net; /* set by worker.c before the loop runs */

static uint32_t next_conn_id;

const char *conn_peer_text(const conn_t *c, char *buf, size_t len)
{
    if (IN6_IS_ADDR_V4MAPPED(&c->peer))
        return inet_ntop(AF_INET, &c->peer.s6_addr[12], buf, (socklen_t)len);
    return inet_ntop(AF_INET6, &c->peer, buf, (socklen_t)len);
}

static void conn_io(loop_t *loop, loop_watch_t *w, uint32_t events);

/* ::1, or 127.0.0.0/8 as a v4-mapped address (peers are kept as IPv6). */
static int addr_loopback(const unsigned char a[16])
{
    static const unsigned char v6lo[16] = {[15] = 1};
    if (memcmp(a, v6lo, 16) == 0) return 1;
    return memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 && a[12] == 127;
}

static long wmem_max(void)
{
    static long v = -1;
    if (v < 0) {
        FILE *f = fopen("/proc/sys/net/core/wmem_max", "r");
        v = 0;
        if (f) {
            if (fscanf(f, "%ld", &v) != 1) v = 0;
            fclose(f);
        }
    }
    return v;
}

/* A slow consumer's last bytes (the rest of a frame it had started, then
 * the 1008 close) must reach the kernel: once there, the kernel delivers
 * them even after close(), when the client reads again. Its socket buffer
 * is full, so grow it by what is left (bounded: one frame and a close;
 * net.core.wmem_max caps it) and write once. */
static void slow_last_write(conn_t *c)
{
    int cur = 0;
    socklen_t sl = sizeof cur;
    if (!c->out.len || getsockopt(c->watch.fd, SOL_SOCKET, SO_SNDBUF, &cur, &sl) < 0) return;
    /* the kernel doubles the value set and charges its own overhead */
    long want = ((long)cur + 2 * (long)c->out.bytes + 16384) / 2;
    if (want > wmem_max()) return; /* would shrink an autotuned buffer */
    int v = (int)want;
    setsockopt(c->watch.fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    struct iovec iov[FLUSH_IOV];
    int n = outq_iov(&c->out, iov, FLUSH_IOV);
    ssize_t w = writev(c->watch.fd, iov, n);
    if (w > 0) {
        stats_add(&net->stats->bytes_out, (uint64_t)w);
        outq_consume(&c->out, (size_t)w, NULL, NULL);
    }
}

static void conn_free(void *p)
{
    conn_t *c = p;
    free(c->in);
    free(c->sub);
    free(c);
}

void conn_close(conn_t *c, const char *why)
{
    if (c->state == CONN_CLOSED) return;
    char ip[64];
    log_debug("conn %u (%s) closed: %s", c->id, conn_peer_text(c, ip, sizeof ip), why);
    if (c->state == CONN_WS) {
        if (c->ep && c->ep->on_close) c->ep->on_close(c);
        pubsub_unsubscribe_all(c);
        ws_release(c);
        stats_sub(&net->stats->ws_connections, 1);
    } else {
        http_abort_async(c);
        if (c->flags & CF_READ_AGAIN) http_read_again_forget(c);
        stats_sub(&net->stats->http_connections, 1);
    }
    ip_table_release(net->ips, &c->peer);
    if (c->flags & CF_SLOW) slow_last_write(c); /* the close frame is not dropped */
    /* close() alone removes the fd from epoll, unless another reference to
     * the socket lives on (a hand-over in flight): then say it. */
    if (c->flags & CF_HANDED_OVER)
        loop_watch_del(net->loop, &c->watch);
    else
        c->watch.cb = NULL;
    close(c->watch.fd);
    c->watch.fd = -1;
    c->state = CONN_CLOSED;
    outq_clear(&c->out);
    /* unlink from the worker's list; the dirty list skips closed ones */
    if (c->prev)
        c->prev->next = c->next;
    else
        net->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    net->n_conns--;
    loop_free_later(net->loop, c, conn_free);
}

static void count_written(void *ud, outbuf_t *b)
{
    (void)ud;
    if (b->publish_ns) {
        uint64_t us = (loop_clock_ns() - b->publish_ns) / 1000;
        if (b->is_token)
            stats_observe_token_latency(net->stats, us);
        else
            stats_observe_latency(net->stats, us, 1);
    }
}

void conn_flush(conn_t *c)
{
    while (c->out.len && c->state != CONN_CLOSED) {
        struct iovec iov[FLUSH_IOV];
        int n = outq_iov(&c->out, iov, FLUSH_IOV);
        ssize_t w = writev(c->watch.fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->flags |= CF_BLOCKED; /* EPOLLOUT (edge) will resume us */
                return;
            }
            conn_close(c, strerror(errno));
            return;
        }
        stats_add(&net->stats->bytes_out, (uint64_t)w);
        outq_consume(&c->out, (size_t)w, count_written, NULL);
        /* A short write means the socket buffer is full. */
        size_t asked = 0;
        for (int i = 0; i < n; i++) asked += iov[i].iov_len;
        if ((size_t)w < asked) {
            c->flags |= CF_BLOCKED;
            return;
        }
    }
    c->flags &= (uint16_t)~CF_BLOCKED;
    if (!c->out.len && (c->flags & CF_CLOSE_AFTER_FLUSH)) {
        /* Half-close so the peer reads everything before seeing EOF. */
        shutdown(c->watch.fd, SHUT_WR);
        conn_close(c, "done");
    }
}

void conn_flush_dirty(void)
{
    while (net->dirty) {
        conn_t *c = net->dirty;
        net->dirty = c->dirty_next;
        c->dirty_next = NULL;
        c->flags &= (uint16_t)~CF_DIRTY;
        if (c->state != CONN_CLOSED && !(c->flags & CF_BLOCKED)) conn_flush(c);
        /* Requests that waited for an async answer (may mark more dirty). */
        if (c->state == CONN_HTTP && (c->flags & CF_HTTP_RESUME)) http_resume(c);
    }
}

void conn_mark_dirty(conn_t *c)
{
    if (c->flags & CF_DIRTY) return;
    c->flags |= CF_DIRTY;
    c->dirty_next = net->dirty;
    net->dirty = c;
}

static void slow_consumer(conn_t *c)
{
    char ip[64];
    log_warn("conn %u (%s): slow consumer, %zu bytes queued; closing 1008", c->id,
             conn_peer_text(c, ip, sizeof ip), c->out.bytes);
    stats_add(&net->stats->slow_consumers, 1);
    c->flags |= CF_SLOW;
    /* Drop what it has not started to receive, then say why. */
    outq_drop_unstarted(&c->out);
    if (c->state != CONN_WS) {
        conn_close(c, "slow consumer");
        return;
    }
    ws_close(c, 1008, "slow consumer"); /* queued right behind the started frame */
    if (c->state == CONN_WS && c->out.len) slow_last_write(c);
}

int conn_queue(conn_t *c, outbuf_t *b)
{
    if (c->state == CONN_CLOSED) {
        outbuf_unref(b);
        return -1;
    }
    if (outq_push(&c->out, b) < 0) {
        outbuf_unref(b);
        conn_close(c, "out of memory");
        return -1;
    }
    conn_mark_dirty(c);
    return 0;
}

int conn_send(conn_t *c, outbuf_t *b)
{
    if (c->flags & CF_SLOW) {
        outbuf_unref(b);
        return -1;
    }
    if (conn_queue(c, b) < 0) return -1;
    /* Over the limit: hand the kernel what it takes now; only a client
     * whose socket is full too is a slow consumer, not one that received
     * a burst between two flushes. */
    if (c->out.bytes > net->cfg->send_buffer_limit && !(c->flags & CF_BLOCKED)) {
        conn_flush(c);
        if (c->state == CONN_CLOSED) return -1;
    }
    if (c->out.bytes > net->cfg->send_buffer_limit) {
        slow_consumer(c);
        return -1;
    }
    return 0;
}

/* A private copy of data, queued by conn_queue or conn_send. */
static int copy_and(conn_t *c, const char *data, size_t len, int (*queue)(conn_t *, outbuf_t *))
{
    outbuf_t *b = outbuf_new(len);
    if (!b) {
        conn_close(c, "out of memory");
        return -1;
    }
    memcpy(b->data, data, len);
    return queue(c, b);
}

int conn_queue_copy(conn_t *c, const char *data, size_t len)
{
    return copy_and(c, data, len, conn_queue);
}

int conn_send_copy(conn_t *c, const char *data, size_t len)
{
    return copy_and(c, data, len, conn_send);
}

static void conn_io(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)loop;
    conn_t *c = w->data;
    if (events & EPOLLOUT && (c->flags & CF_BLOCKED)) {
        c->flags &= (uint16_t)~CF_BLOCKED;
        conn_flush(c);
        if (c->state == CONN_CLOSED) return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (c->state == CONN_HTTP)
            http_on_readable(c);
        else if (c->state == CONN_WS)
            ws_on_readable(c);
    }
}

static conn_t *setup_conn(int fd, const struct sockaddr_storage *ss, int adopted)
{
    conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->id = ++next_conn_id;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        c->peer.s6_addr[10] = c->peer.s6_addr[11] = 0xff;
        memcpy(&c->peer.s6_addr[12], &a->sin_addr, 4);
    } else {
        c->peer = ((const struct sockaddr_in6 *)ss)->sin6_addr;
    }
    if (addr_loopback(c->peer.s6_addr)) c->flags |= CF_LOOPBACK;
    if (config_proxy_trusted(net->cfg, c->peer.s6_addr)) c->flags |= CF_TRUSTED_PROXY;
    /* A handed-over socket was admitted by the worker that accepted it; a
     * trusted proxy carries many clients, so its address has no limit. */
    uint32_t per_ip = (adopted || (c->flags & CF_TRUSTED_PROXY)) && net->cfg->max_connections_per_ip
                          ? UINT32_MAX
                          : net->cfg->max_connections_per_ip;
    if (ip_table_acquire(net->ips, &c->peer, per_ip) < 0) {
        /* Over the per-IP limit: refuse before spending anything on it. */
        static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                                   "Content-Length: 0\r\nConnection: close\r\n\r\n";
        /* Counted before the answer leaves, so a client that reads the 503
         * and then /metrics always finds it counted. */
        stats_add(&net->stats->rejected_full, 1);
        ssize_t n = write(fd, resp, sizeof resp - 1);
        (void)n;
        close(fd);
        free(c);
        return NULL;
    }
    /* TCP_NODELAY comes from the listener (accepted sockets inherit it);
     * a socket handed over by another worker already has it too. */
    c->state = CONN_HTTP;
    c->deadline_ms = loop_now_ms(net->loop) + net->cfg->handshake_timeout_ms;
    if (loop_watch_add(net->loop, &c->watch, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, conn_io,
                       c) < 0) {
        ip_table_release(net->ips, &c->peer);
        close(fd);
        free(c);
        return NULL;
    }
    c->next = net->conns;
    if (net->conns) net->conns->prev = c;
    net->conns = c;
    net->n_conns++;
    if (!adopted) stats_add(&net->stats->accepted, 1);
    stats_add(&net->stats->http_connections, 1);
    return c;
}

void conn_adopt(int fd, const char *bytes, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
        close(fd);
        return;
    }
    conn_t *c = setup_conn(fd, &ss, 1);
    if (!c) return;
    c->flags |= CF_HANDED_OVER; /* the sender may not have closed its copy yet */
    if (len) {
        c->in = malloc(len);
        if (!c->in) {
            conn_close(c, "out of memory");
            return;
        }
        memcpy(c->in, bytes, len);
        c->in_len = c->in_cap = (uint32_t)len;
    }
    http_feed(c);
}

void conn_accept_ready(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)loop;
    (void)events;
    /* Bounded batch: other connections get their turn between batches. */
    for (int i = 0; i < 256; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) log_warn("accept: %s", strerror(errno));
            return;
        }
        setup_conn(fd, &ss, 0);
    }
}

/* ---- client address behind a proxy (server.trusted_proxies) ---- */

#define FWD_MAX 32

/* One node of X-Forwarded-For or a Forwarded "for=": a bare address,
 * "[v6]" or "[v6]:port", "v4:port", optionally quoted. -1 when it is not an
 * address ("unknown", an obfuscated name). */
static int parse_node(const char *b, const char *e, unsigned char out[16])
{
    while (b < e && (*b == ' ' || *b == '\t' || *b == '"')) b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '"')) e--;
    if (b < e && *b == '[') {
        const char *close = memchr(b, ']', (size_t)(e - b));
        if (!close) return -1;
        return config_parse_ip(b + 1, (size_t)(close - b - 1), out);
    }
    const char *colon = memchr(b, ':', (size_t)(e - b));
    if (colon && !memchr(colon + 1, ':', (size_t)(e - colon - 1)))
        e = colon; /* v4:port (a v6 address has several colons) */
    return config_parse_ip(b, (size_t)(e - b), out);
}

/* The "for=" value of one Forwarded element, or NULL. */
static const char *forwarded_for(const char *b, const char *e, const char **end)
{
    while (b < e) {
        const char *semi = memchr(b, ';', (size_t)(e - b));
        const char *pe = semi ? semi : e;
        while (b < pe && (*b == ' ' || *b == '\t')) b++;
        if (pe - b > 4 && strncasecmp(b, "for=", 4) == 0) {
            *end = pe;
            return b + 4;
        }
        b = semi ? semi + 1 : e;
    }
    return NULL;
}

/* Addresses the forwarding headers name, in order (first = farthest).
 * Unparsable nodes are kept as invalid (ok[i] = 0). Returns the count, or
 * -1 when there is no forwarding header at all. */
static int forwarded_nodes(const http_request_t *req, unsigned char addr[][16], int *ok)
{
    int n = 0, seen = 0;
    for (size_t h = 0; h < req->n_headers; h++) {
        const http_header_t *hd = &req->headers[h];
        int xff = hd->name_len == 15 && strncasecmp(hd->name, "X-Forwarded-For", 15) == 0;
        int fwd = hd->name_len == 9 && strncasecmp(hd->name, "Forwarded", 9) == 0;
        if (!xff && !fwd) continue;
        seen = 1;
        const char *p = hd->value, *end = hd->value + hd->value_len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *ie = comma ? comma : end, *nb = p, *ne = ie;
            if (fwd) nb = forwarded_for(p, ie, &ne);
            if (nb && n < FWD_MAX) {
                ok[n] = parse_node(nb, ne, addr[n]) == 0;
                n++;
            } else if (nb) {
                return FWD_MAX + 1; /* too long a chain: trust nothing */
            }
            p = comma ? comma + 1 : end;
        }
    }
    return seen ? n : -1;
}

int conn_request_loopback(const conn_t *c, const http_request_t *req)
{
    unsigned char addr[FWD_MAX][16];
    int ok[FWD_MAX];
    int n = forwarded_nodes(req, addr, ok);
    if (n < 0) return (c->flags & CF_LOOPBACK) != 0; /* nothing forwarded */
    /* Forwarded by a peer we do not trust: its headers say nothing about
     * the client, but they say the request is not the loopback host's own. */
    if (!(c->flags & CF_TRUSTED_PROXY) || n == 0 || n > FWD_MAX) return 0;
    /* Rightmost address that is not a trusted proxy is the client; each
     * trusted hop vouches only for the address to its left. */
    for (int i = n - 1; i >= 0; i--) {
        if (!ok[i]) return 0;
        if (i > 0 && config_proxy_trusted(net->cfg, addr[i])) continue;
        return addr_loopback(addr[i]);
    }
    return 0;
}
