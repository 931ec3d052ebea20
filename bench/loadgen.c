/*
 * loadgen: WebSocket load generator for the ragws benchmark.
 *
 * One process, one epoll loop, no threads: the generator shares a 2-core box
 * with the server under test, so it has to stay cheap per message. It speaks
 * just enough RFC 6455 for the benchmark: client handshake with a random key
 * and a checked Sec-WebSocket-Accept, masked client frames, unmasked server
 * frames (several per read, split across reads, fragmented), ping -> pong.
 *
 * Modes (see usage()):
 *   fanout     N subscribers + 1 publisher: deliveries/s, loss, latency
 *   idle       N idle subscribers: server resident memory per connection
 *   handshake  connect / upgrade / close churn: handshakes per second
 *   sio-fanout N Socket.IO clients (Engine.IO v4 over our WebSocket) in one
 *              project room + REST publishers (POST /api/projects/{id}/
 *              broadcast, pipelined on keep-alive HTTP connections):
 *              deliveries/s, loss, latency, like fanout
 *
 * Each mode prints a human line and then a final machine-readable line
 * "RESULT mode=... key=value ...". Only loopback targets are accepted.
 *
 * Build (scripts/bench.sh does this):
 *   cc -std=c11 -O2 -Wall -Wextra -Werror -o build/bench/loadgen bench/loadgen.c -lm
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/net_tstamp.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S  1000000000LL
#define NS_PER_MS 1000000LL

#define READ_CHUNK           (256 * 1024)
#define MAX_FRAME            (64u * 1024 * 1024) /* refuse absurd server frames */
#define MAX_RESPONSE_HEAD    16384
#define HANDSHAKE_TIMEOUT_NS (10 * NS_PER_S)
/* Published-but-not-fully-delivered messages the fan-out bookkeeping can
 * track; past this the server is hopelessly behind and the run says so. */
#define RING_SIZE 65536u
#define MAX_PIDS  8

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ------------------------------------------------------------------ */
/* Options                                                            */

static struct {
    const char *mode;
    struct in_addr host;
    int port;
    long subs;
    long size;
    long conns;
    long concurrency;
    double seconds;
    double warmup;
    double rate;    /* messages/s; 0 = saturation (closed loop) */
    long window;    /* saturation: messages allowed in flight */
    long src_addrs; /* spread connections over 127.0.0.1..N */
    double timeout; /* hard overall limit, seconds */
    bool app_time;  /* latency to our read(), not to kernel arrival */
    double settle;  /* idle: wait after the last open, seconds */
    pid_t pids[MAX_PIDS];
    int npids;
    const char *sub_path;
    const char *pub_path;
    const char *channel;
    const char *project; /* sio-fanout: room project_{project} */
    long pub_conns;      /* sio-fanout: keep-alive HTTP publishers */
} opt = {
    .subs = 1000,
    .size = 64,
    .conns = 10000,
    .concurrency = -1, /* per-mode default */
    .seconds = 10,
    .warmup = 2,
    .window = 256,
    .src_addrs = -1, /* per-mode default */
    .settle = 2,
    .sub_path = "/api/v1/ws",
    .pub_path = "/ws/publish",
    .channel = "global",
    .project = "1",
    .pub_conns = 4,
};

static char g_alarm_msg[128];

/* ------------------------------------------------------------------ */
/* Small utilities                                                    */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "loadgen: %s\n", msg);
    /* Keep the RESULT line parseable: no spaces in the value. */
    for (char *p = msg; *p; p++)
        if (*p == ' ' || *p == '=') *p = '_';
    printf("RESULT mode=%s error=%s\n", opt.mode ? opt.mode : "none", msg);
    fflush(stdout);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) die("out of memory (%zu bytes)", n);
    return q;
}

static void on_alarm(int sig)
{
    (void)sig;
    /* async-signal-safe: write + _exit only */
    ssize_t r = write(STDOUT_FILENO, g_alarm_msg, strlen(g_alarm_msg));
    (void)r;
    _exit(3);
}

/* xorshift64*: frame masks only need to vary, not to be secret here. */
static uint64_t g_rng;

static uint32_t rng32(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------ */
/* SHA-1 and base64, only for Sec-WebSocket-Accept                   */

static uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

/* One-shot SHA-1 of a short input (the key plus the GUID is 60 bytes). */
static void sha1(const void *data, size_t len, uint8_t out[20])
{
    uint8_t msg[256];
    size_t padded = (len + 8) / 64 * 64 + 64;
    if (padded > sizeof msg) die("sha1 input too long");
    memset(msg, 0, padded);
    memcpy(msg, data, len);
    msg[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) msg[padded - 1 - i] = (uint8_t)(bits >> (8 * i));

    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    for (size_t off = 0; off < padded; off += 64) sha1_block(h, msg + off);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

static void base64(const uint8_t *in, size_t len, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

/* The value a server must answer for `key` (RFC 6455 section 4.2.2). */
static void ws_accept_for(const char *key, char out[29])
{
    char buf[128];
    uint8_t digest[20];
    int n = snprintf(buf, sizeof buf, "%s%s", key, WS_GUID);
    sha1(buf, (size_t)n, digest);
    base64(digest, sizeof digest, out);
}

/* ------------------------------------------------------------------ */
/* Latency histogram: log-linear, 64 sub-buckets per power of two     */
/* (< 1.6 % error), constant memory whatever the message rate.        */

#define HIST_SUB     64
#define HIST_BUCKETS (60 * HIST_SUB)

struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t b[HIST_BUCKETS];
};

static void hist_add(struct hist *h, int64_t sv)
{
    uint64_t v = sv > 0 ? (uint64_t)sv : 0;
    unsigned idx;
    if (v < HIST_SUB) {
        idx = (unsigned)v;
    } else {
        int e = 63 - __builtin_clzll(v); /* e >= 6 */
        unsigned mant = (unsigned)(v >> (e - 6)) & (HIST_SUB - 1);
        idx = (unsigned)(e - 5) * HIST_SUB + mant;
    }
    if (idx >= HIST_BUCKETS) idx = HIST_BUCKETS - 1;
    h->b[idx]++;
    h->count++;
    if (v > h->max) h->max = v;
}

/* Middle of the bucket holding quantile q (0..1), in the unit added. */
static double hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0) return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->count);
    if (want == 0) want = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) {
            if (i < HIST_SUB) return i;
            int e = (int)(i / HIST_SUB) + 5;
            double lo = (double)((uint64_t)(HIST_SUB + i % HIST_SUB) << (e - 6));
            double width = (double)(1ULL << (e - 6));
            double mid = lo + width / 2;
            return mid > (double)h->max ? (double)h->max : mid;
        }
    }
    return (double)h->max;
}

/* ------------------------------------------------------------------ */
/* Connections                                                        */

enum conn_state { ST_FREE, ST_CONNECTING, ST_UPGRADING, ST_OPEN, ST_CLOSED };
enum conn_role { R_SUB, R_PUB, R_HS, R_HTTP };
/* sio-fanout subscriber: Engine.IO open -> Socket.IO CONNECT -> join_project */
enum sio_state { SIO_WAIT_OPEN, SIO_WAIT_CONNECT, SIO_WAIT_JOIN, SIO_READY, SIO_FAILED };

struct buf {
    uint8_t *p;
    size_t len, cap;
};

struct conn {
    int fd;
    uint8_t state;
    uint8_t role;
    bool want_out;   /* EPOLLOUT currently registered */
    bool rx_ts;      /* kernel receive timestamps are on */
    uint8_t frag_op; /* opcode of the fragmented message in `frag` */
    uint8_t sio;     /* sio-fanout subscriber: enum sio_state */
    char accept[29]; /* Sec-WebSocket-Accept we expect */
    int64_t t_start; /* connect() issued */
    struct buf in;   /* unconsumed input: partial response or frame */
    struct buf out;  /* output not yet accepted by the kernel */
    size_t out_off;
    struct buf frag;
    uint64_t next_seq; /* subscriber: next seq it should receive */
    uint64_t msgs;     /* data messages received */
    uint64_t *seen;    /* sio-fanout: bitmap of seqs >= next_seq received */
};

static int g_ep = -1;
static uint8_t *g_rbuf;
static size_t g_rbuf_cap;
/* When the current read() returned; the `now` handed to the frame handlers
 * is the kernel's arrival time when rx_ts is on, which leaves out the time
 * this single-threaded generator spends reading the other sockets first. */
static int64_t g_app_now;
static int64_t g_rt_off; /* CLOCK_REALTIME - CLOCK_MONOTONIC */

static void refresh_clock_offset(void)
{
    struct timespec rt;
    int64_t m0 = now_ns();
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t m1 = now_ns();
    g_rt_off = (int64_t)rt.tv_sec * NS_PER_S + rt.tv_nsec - (m0 + m1) / 2;
}

/* Connection-level counters shared by all modes. */
static struct {
    uint64_t started, opened, failed, closed_by_peer, proto_errors;
    long inflight; /* connecting or upgrading */
    char first_fail[200];
    char first_close[120];
} cs;

static void on_open(struct conn *c, int64_t now);
static void on_message(struct conn *c, int op, uint8_t *data, size_t len, int64_t now);
static void http_pub_event(struct conn *c, uint32_t ev);
/* sio-fanout: Socket.IO subscribers, REST publishers */
static bool g_sio;
static void on_lost(struct conn *c);

static void buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void buf_append(struct buf *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

static void note(char *dst, size_t cap, const char *fmt, ...)
{
    if (dst[0]) return; /* keep the first one: it is usually the cause */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static void ep_set(struct conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(g_ep, op, c->fd, &ev) < 0 && op != EPOLL_CTL_DEL)
        die("epoll_ctl: %s", strerror(errno));
}

/* Closes the socket; the struct and its buffers stay for reuse. */
static void conn_shut(struct conn *c)
{
    if (c->fd >= 0) close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    if (c->state == ST_CONNECTING || c->state == ST_UPGRADING) cs.inflight--;
    c->state = ST_CLOSED;
    c->in.len = c->out.len = c->out_off = c->frag.len = 0;
    c->want_out = false;
}

/* Failure before the upgrade completed. */
static void conn_fail(struct conn *c, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    note(cs.first_fail, sizeof cs.first_fail, "%s", why);
    cs.failed++;
    conn_shut(c);
}

/* An open connection went away (peer close, reset, protocol error). */
static void conn_lost(struct conn *c, const char *why)
{
    note(cs.first_close, sizeof cs.first_close, "%s", why);
    cs.closed_by_peer++;
    conn_shut(c);
    on_lost(c);
}

static void conn_flush(struct conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            if (c->state == ST_OPEN)
                conn_lost(c, strerror(errno));
            else
                conn_fail(c, "send: %s", strerror(errno));
            return;
        }
        c->out_off += (size_t)n;
    }
    bool pending = c->out_off < c->out.len;
    if (!pending) c->out.len = c->out_off = 0;
    if (pending != c->want_out) {
        c->want_out = pending;
        ep_set(c, EPOLLIN | (pending ? EPOLLOUT : 0), EPOLL_CTL_MOD);
    }
}

/* Appends one masked client frame to the output buffer (not flushed). */
static void ws_frame(struct conn *c, int op, const void *payload, size_t len)
{
    if (c->out_off > 0 && c->out_off == c->out.len) c->out.len = c->out_off = 0;
    buf_reserve(&c->out, len + 14);
    uint8_t *p = c->out.p + c->out.len;
    size_t h = 0;
    p[h++] = (uint8_t)(0x80 | op);
    if (len < 126) {
        p[h++] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        p[h++] = 0x80 | 126;
        p[h++] = (uint8_t)(len >> 8);
        p[h++] = (uint8_t)len;
    } else {
        p[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) p[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint32_t m = rng32();
    uint8_t *mask = p + h;
    memcpy(mask, &m, 4);
    h += 4;
    const uint8_t *src = payload;
    for (size_t i = 0; i < len; i++) p[h + i] = src[i] ^ mask[i & 3];
    c->out.len += h + len;
}

/* Starts a non-blocking connect and queues the upgrade request. */
static bool conn_start(struct conn *c, int role, const char *path, uint64_t index, bool rx_ts)
{
    c->role = (uint8_t)role;
    c->rx_ts = false;
    c->next_seq = 0;
    c->msgs = 0;
    c->in.len = c->out.len = c->out_off = c->frag.len = 0;
    c->want_out = false;
    c->t_start = now_ns();
    cs.started++;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        c->state = ST_CLOSED;
        note(cs.first_fail, sizeof cs.first_fail, "socket: %s", strerror(errno));
        cs.failed++;
        return false;
    }
    c->state = ST_CONNECTING;
    cs.inflight++;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (rx_ts) {
        int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
        c->rx_ts = setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) == 0;
    }

    /* Past ~28k connections one source address runs out of ephemeral
     * ports; other loopback addresses each bring their own range.
     * IP_BIND_ADDRESS_NO_PORT defers the port choice to connect(). */
    if (opt.src_addrs > 1) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(index % (uint64_t)opt.src_addrs));
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) {
            conn_fail(c, "bind: %s", strerror(errno));
            return false;
        }
    }

    struct sockaddr_in dst = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port), .sin_addr = opt.host};
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
        conn_fail(c, "connect: %s", strerror(errno));
        return false;
    }

    uint8_t raw[16];
    char key[25];
    for (int i = 0; i < 16; i += 4) {
        uint32_t r = rng32();
        memcpy(raw + i, &r, 4);
    }
    base64(raw, sizeof raw, key);
    ws_accept_for(key, c->accept);

    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "\r\n",
                     path, inet_ntoa(opt.host), opt.port, key);
    buf_append(&c->out, req, (size_t)n);
    c->want_out = true;
    ep_set(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
    return true;
}

/* Parses the HTTP response; returns bytes consumed, 0 if incomplete or failed. */
static size_t handle_upgrade(struct conn *c, uint8_t *p, size_t len, int64_t now)
{
    uint8_t *end = memmem(p, len, "\r\n\r\n", 4);
    if (!end) {
        if (len > MAX_RESPONSE_HEAD) conn_fail(c, "response head too large");
        return 0;
    }
    size_t head = (size_t)(end - p) + 4;
    *end = '\0'; /* the head becomes one C string */
    char *s = (char *)p;
    char *eol = strstr(s, "\r\n");
    if (strncmp(s, "HTTP/1.1 101", 12) != 0) {
        if (eol) *eol = '\0';
        conn_fail(c, "no upgrade: %.100s", s);
        return 0;
    }
    bool accepted = false;
    for (char *line = eol ? eol + 2 : NULL; line && *line;) {
        char *next = strstr(line, "\r\n");
        if (next) *next = '\0';
        if (strncasecmp(line, "Sec-WebSocket-Accept:", 21) == 0) {
            char *v = line + 21;
            while (*v == ' ' || *v == '\t') v++;
            size_t vl = strlen(v);
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
            accepted = vl == 28 && memcmp(v, c->accept, 28) == 0;
        }
        line = next ? next + 2 : NULL;
    }
    if (!accepted) {
        conn_fail(c, "bad or missing Sec-WebSocket-Accept");
        return 0;
    }
    c->state = ST_OPEN;
    cs.inflight--;
    cs.opened++;
    on_open(c, now);
    return head;
}

/* Handles one complete frame. Returns false if the connection ended. */
static bool handle_frame(struct conn *c, int fin, int op, uint8_t *data, size_t len, int64_t now)
{
    switch (op) {
    case 0x0: /* continuation */
        if (c->frag_op == 0) {
            cs.proto_errors++;
            conn_lost(c, "continuation without start");
            return false;
        }
        buf_append(&c->frag, data, len);
        if (fin) {
            int fop = c->frag_op;
            size_t flen = c->frag.len;
            c->frag_op = 0;
            c->frag.len = 0; /* contents stay valid until the next append */
            on_message(c, fop, c->frag.p, flen, now);
        }
        return c->state == ST_OPEN;
    case 0x1:
    case 0x2:
        if (fin) {
            on_message(c, op, data, len, now);
        } else {
            c->frag_op = (uint8_t)op;
            c->frag.len = 0;
            buf_append(&c->frag, data, len);
        }
        return c->state == ST_OPEN;
    case 0x8: { /* close: echo it, then hang up */
        char why[64] = "server close";
        if (len >= 2)
            snprintf(why, sizeof why, "server close %u", (unsigned)(data[0] << 8 | data[1]));
        ws_frame(c, 0x8, data, len >= 2 ? 2 : 0);
        conn_flush(c);
        if (c->state == ST_OPEN) conn_lost(c, why);
        return false;
    }
    case 0x9: /* ping */
        ws_frame(c, 0xA, data, len);
        conn_flush(c);
        return c->state == ST_OPEN;
    case 0xA: return true;
    default:
        cs.proto_errors++;
        conn_lost(c, "unknown opcode");
        return false;
    }
}

/* Parses as many complete frames as `p` holds; returns bytes consumed. */
static size_t parse_frames(struct conn *c, uint8_t *p, size_t len, int64_t now)
{
    size_t off = 0;
    while (len - off >= 2) {
        uint8_t *f = p + off;
        size_t avail = len - off;
        int fin = f[0] >> 7, op = f[0] & 0x0f;
        bool masked = f[1] & 0x80;
        uint64_t plen = f[1] & 0x7f;
        size_t h = 2;
        if (plen == 126) {
            if (avail < 4) break;
            plen = (uint64_t)f[2] << 8 | f[3];
            h = 4;
        } else if (plen == 127) {
            if (avail < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++) plen = plen << 8 | f[2 + i];
            h = 10;
        }
        if (plen > MAX_FRAME) {
            cs.proto_errors++;
            conn_lost(c, "frame too large");
            return len;
        }
        if (masked) h += 4;
        if (avail < h + plen) break;
        uint8_t *data = f + h;
        if (masked) { /* servers must not mask; tolerate, count */
            cs.proto_errors++;
            for (uint64_t i = 0; i < plen; i++) data[i] ^= f[h - 4 + (i & 3)];
        }
        off += h + (size_t)plen;
        if (!handle_frame(c, fin, op, data, (size_t)plen, now)) return len;
    }
    return off;
}

static void conn_readable(struct conn *c)
{
    size_t keep = c->in.len;
    if (g_rbuf_cap < keep + READ_CHUNK) {
        g_rbuf_cap = keep + READ_CHUNK;
        g_rbuf = xrealloc(g_rbuf, g_rbuf_cap);
    }
    if (keep) memcpy(g_rbuf, c->in.p, keep);
    ssize_t n;
    int64_t arrival = 0;
    if (c->rx_ts) {
        /* TCP reports the arrival time of the last segment this read took */
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(3 * sizeof(struct timespec))];
        } ctl;
        struct iovec iov = {.iov_base = g_rbuf + keep, .iov_len = READ_CHUNK};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl.buf,
                            .msg_controllen = sizeof ctl.buf};
        n = recvmsg(c->fd, &mh, 0);
        for (struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm;
             cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_TIMESTAMPING) {
                struct timespec ts;
                memcpy(&ts, CMSG_DATA(cm), sizeof ts); /* ts[0]: software */
                if (ts.tv_sec) arrival = (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec - g_rt_off;
            }
        }
    } else {
        n = read(c->fd, g_rbuf + keep, READ_CHUNK);
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        if (c->state == ST_OPEN)
            conn_lost(c, strerror(errno));
        else
            conn_fail(c, "read: %s", strerror(errno));
        return;
    }
    if (n == 0) {
        if (c->state == ST_OPEN)
            conn_lost(c, "eof");
        else
            conn_fail(c, "eof during handshake");
        return;
    }
    int64_t now = g_app_now = now_ns(); /* one receive timestamp per read */
    if (arrival > 0 && arrival <= now && now - arrival < NS_PER_S) now = arrival;
    size_t total = keep + (size_t)n, used = 0;
    if (c->state == ST_UPGRADING) {
        used = handle_upgrade(c, g_rbuf, total, now);
        if (c->state == ST_UPGRADING) { /* head incomplete */
            c->in.len = 0;
            buf_append(&c->in, g_rbuf, total);
            return;
        }
    }
    if (c->state == ST_OPEN) used += parse_frames(c, g_rbuf + used, total - used, now);
    if (c->state != ST_OPEN) return;
    c->in.len = 0;
    if (used < total) buf_append(&c->in, g_rbuf + used, total - used);
}

static void conn_event(struct conn *c, uint32_t ev)
{
    if (c->role == R_HTTP) {
        http_pub_event(c, ev);
        return;
    }
    if (c->state == ST_CONNECTING && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            conn_fail(c, "connect: %s", strerror(err));
            return;
        }
        c->state = ST_UPGRADING;
    }
    if (ev & EPOLLOUT) conn_flush(c);
    if ((c->state == ST_UPGRADING || c->state == ST_OPEN) && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        conn_readable(c);
}

static int g_timer_tag; /* epoll cookie for the pacing timerfd */
static int g_timerfd = -1;
/* Paced fan-out: called between events too, because one epoll batch of
 * a thousand reads can take longer than the gap between two sends. */
static void (*g_pace)(void);

/* One round of the event loop: waits at most timeout_ms. */
static void loop_once(int timeout_ms)
{
    static struct epoll_event evs[4096];
    int n = epoll_wait(g_ep, evs, 4096, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return;
        die("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == &g_timer_tag) {
            uint64_t ticks;
            ssize_t r = read(g_timerfd, &ticks, sizeof ticks);
            (void)r;
            continue;
        }
        conn_event(evs[i].data.ptr, evs[i].events);
        if (g_pace && (i & 31) == 31) g_pace();
    }
}

static struct conn *conns_new(size_t n)
{
    struct conn *c = calloc(n, sizeof *c);
    if (!c) die("out of memory");
    for (size_t i = 0; i < n; i++) c[i].fd = -1;
    return c;
}

/* Opens conns[0..n) with at most opt.concurrency handshakes in flight. */
static void open_all(struct conn *conns, size_t n, int role, const char *path, int64_t deadline)
{
    size_t next = 0;
    for (;;) {
        while (next < n && cs.inflight < opt.concurrency) {
            conn_start(&conns[next], role, path, next,
                       role == R_SUB && !opt.app_time &&
                           (g_sio || strcmp(opt.mode, "fanout") == 0));
            next++;
        }
        if (next == n && cs.inflight == 0) break;
        if (now_ns() > deadline) {
            for (size_t i = 0; i < next; i++)
                if (conns[i].state == ST_CONNECTING || conns[i].state == ST_UPGRADING)
                    conn_fail(&conns[i], "handshake timeout");
            break;
        }
        loop_once(20);
    }
}

/* Lets the loop run for a while (pings, late frames). */
static void run_for(int64_t ns)
{
    int64_t end = now_ns() + ns;
    for (int64_t t = now_ns(); t < end; t = now_ns()) loop_once((int)((end - t) / NS_PER_MS) + 1);
}

/* ------------------------------------------------------------------ */
/* Fan-out mode                                                       */

enum phase { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_DRAIN };

static struct {
    enum phase phase;
    uint64_t published;           /* next seq to publish */
    uint64_t completed;           /* messages every live subscriber is past */
    int32_t remaining[RING_SIZE]; /* per in-flight message: deliveries owed */
    long live;                    /* open subscribers */
    uint64_t m0, m1;              /* seq range published while measuring */
    uint64_t deliveries;          /* all bench deliveries */
    uint64_t win_deliveries;      /* received while measuring */
    uint64_t meas_deliveries;     /* deliveries of messages in [m0, m1) */
    uint64_t gaps, lost_meas, reorder, other, other_setup, pub_errors;
    bool overload;
    char first_other[160];
    char first_pub_error[200];
    struct hist lat;           /* ns, messages in [m0, m1): to kernel arrival */
    struct hist app_lat;       /* same, to our read() */
    struct hist lag;           /* ns, paced mode: how late each send was */
    size_t wire_min, wire_max; /* delivered payload sizes */
} F;

static void fanout_settle(uint64_t seq, bool lost)
{
    if (lost && seq >= F.m0 && seq < F.m1) F.lost_meas++;
    if (--F.remaining[seq % RING_SIZE] == 0) F.completed++;
}

static uint64_t parse_u64(const uint8_t **pp, const uint8_t *end, bool *ok)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    if (p >= end || *p < '0' || *p > '9') {
        *ok = false;
        return 0;
    }
    while (p < end && *p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
    *pp = p;
    return v;
}

/* Pulls seq and t out of a delivered bench message. The fast path expects
 * the exact shape we publish; the slow path tolerates re-ordered keys. */
static bool parse_bench(const uint8_t *d, size_t len, uint64_t *seq, uint64_t *t)
{
    static const char pre[] = "{\"type\":\"bench\",\"seq\":";
    const size_t pl = sizeof pre - 1;
    const uint8_t *end = d + len, *p;
    bool ok = true;
    if (len > pl && memcmp(d, pre, pl) == 0) {
        p = d + pl;
        *seq = parse_u64(&p, end, &ok);
        if (ok && end - p > 5 && memcmp(p, ",\"t\":", 5) == 0) {
            p += 5;
            *t = parse_u64(&p, end, &ok);
            return ok;
        }
    }
    if (!memmem(d, len, "\"type\":\"bench\"", 14)) return false;
    ok = true;
    p = memmem(d, len, "\"seq\":", 6);
    if (!p) return false;
    p += 6;
    *seq = parse_u64(&p, end, &ok);
    p = memmem(d, len, "\"t\":", 4);
    if (!p) return false;
    p += 4;
    *t = parse_u64(&p, end, &ok);
    return ok;
}

/* sio-fanout: 42["bench",{"seq":S,"t":T,"pad":"..."}] (keys in any order). */
static bool parse_sio_bench(const uint8_t *d, size_t len, uint64_t *seq, uint64_t *t)
{
    static const char pre[] = "42[\"bench\",{";
    const size_t pl = sizeof pre - 1;
    const uint8_t *end = d + len, *p;
    bool ok = true;
    if (len <= pl || memcmp(d, pre, pl) != 0) return false;
    if (len > pl + 6 && memcmp(d + pl, "\"seq\":", 6) == 0) {
        p = d + pl + 6;
        *seq = parse_u64(&p, end, &ok);
        if (ok && end - p > 5 && memcmp(p, ",\"t\":", 5) == 0) {
            p += 5;
            *t = parse_u64(&p, end, &ok);
            return ok;
        }
    }
    ok = true;
    p = memmem(d + pl, len - pl, "\"seq\":", 6);
    if (!p) return false;
    p += 6;
    *seq = parse_u64(&p, end, &ok);
    p = memmem(d + pl, len - pl, "\"t\":", 4);
    if (!p) return false;
    p += 4;
    *t = parse_u64(&p, end, &ok);
    return ok;
}

/* sio-fanout per-subscriber bookkeeping: bit (seq % SEEN_BITS) is set when
 * seq (>= next_seq) has arrived. A seq more than SEEN_BITS ahead of the
 * oldest missing one means that one is lost (a gap). */
#define SEEN_BITS 4096u

static bool seen_test(const struct conn *c, uint64_t seq)
{
    return c->seen[(seq % SEEN_BITS) / 64] >> (seq % 64) & 1;
}

static void seen_set(struct conn *c, uint64_t seq, bool on)
{
    uint64_t bit = 1ULL << (seq % 64);
    if (on)
        c->seen[(seq % SEEN_BITS) / 64] |= bit;
    else
        c->seen[(seq % SEEN_BITS) / 64] &= ~bit;
}

static uint64_t g_sio_ooo; /* arrivals out of publish order (not loss) */

/* Returns false for a duplicate. Settles seq, and any seq given up on. */
static bool sio_accept_seq(struct conn *c, uint64_t seq)
{
    if (!c->seen) {
        c->seen = calloc(SEEN_BITS / 64, sizeof *c->seen);
        if (!c->seen) die("out of memory");
    }
    if (seq < c->next_seq || (seq < c->next_seq + SEEN_BITS && seen_test(c, seq))) {
        F.reorder++; /* a duplicate */
        return false;
    }
    if (seq != c->next_seq) g_sio_ooo++;
    if (seq >= c->next_seq + SEEN_BITS) {
        uint64_t base = seq - SEEN_BITS + 1;
        bool gap = false;
        for (uint64_t s = c->next_seq; s < base; s++) {
            if (seen_test(c, s))
                seen_set(c, s, false);
            else {
                fanout_settle(s, true);
                gap = true;
            }
        }
        if (gap) F.gaps++;
        c->next_seq = base;
    }
    seen_set(c, seq, true);
    fanout_settle(seq, false);
    while (seen_test(c, c->next_seq)) {
        seen_set(c, c->next_seq, false);
        c->next_seq++;
    }
    return true;
}

static void fanout_deliver(struct conn *c, const uint8_t *d, size_t len, int64_t now)
{
    uint64_t seq, t;
    /* Anything but one of our messages (a resync notice, a seq we never
     * sent) counts as "other"; a greeting before the run does not. */
    bool ours = g_sio ? parse_sio_bench(d, len, &seq, &t) : parse_bench(d, len, &seq, &t);
    if (!ours || seq >= F.published) {
        if (F.phase == PH_SETUP) {
            F.other_setup++;
            return;
        }
        F.other++;
        note(F.first_other, sizeof F.first_other, "%.*s", (int)(len > 150 ? 150 : len), d);
        return;
    }
    if (g_sio) {
        /* Several publisher connections: the server may publish in any
         * order among the requests in flight, so a subscriber tracks which
         * seqs it has, not just the next one. */
        if (!sio_accept_seq(c, seq)) return;
    } else {
        if (seq < c->next_seq) { /* duplicate or out of order */
            F.reorder++;
            return;
        }
        if (seq > c->next_seq) { /* the ones in between will never come */
            F.gaps++;
            for (uint64_t s = c->next_seq; s < seq; s++) fanout_settle(s, true);
        }
        c->next_seq = seq + 1;
        fanout_settle(seq, false);
    }

    F.deliveries++;
    if (F.phase == PH_MEASURE) F.win_deliveries++;
    if (seq >= F.m0 && seq < F.m1) {
        F.meas_deliveries++;
        hist_add(&F.lat, now - (int64_t)t);
        hist_add(&F.app_lat, g_app_now - (int64_t)t);
    }
    if (len < F.wire_min) F.wire_min = len;
    if (len > F.wire_max) F.wire_max = len;
}

/* A subscriber went away: whatever it still owed will never arrive. */
static void fanout_sub_lost(struct conn *c)
{
    if (F.phase == PH_SETUP) return;
    F.live--;
    for (uint64_t s = c->next_seq; s < F.published; s++)
        if (!(c->seen && s < c->next_seq + SEEN_BITS && seen_test(c, s))) fanout_settle(s, true);
    c->next_seq = F.published;
}

static struct conn *g_pub;
static void publish_one(int64_t t);
static void ws_pub_flush(void) { conn_flush(g_pub); }
static bool ws_pub_alive(void) { return g_pub->state == ST_OPEN; }
/* fanout: one WebSocket publisher; sio-fanout: REST publishers (below) */
static void (*g_publish)(int64_t t) = publish_one;
static void (*g_pub_flush)(void) = ws_pub_flush;
static bool (*g_pub_alive)(void) = ws_pub_alive;

/* Appends one publish frame; `t` is the send timestamp carried in it. */
static void publish_one(int64_t t)
{
    char obj[4096], msg[4200];
    uint64_t seq = F.published;
    int n =
        snprintf(obj, sizeof obj,
                 "{\"type\":\"bench\",\"seq\":%" PRIu64 ",\"t\":%" PRId64 ",\"pad\":\"", seq, t);
    /* pad so the delivered object is exactly --size bytes (if it fits) */
    long pad = opt.size - n - 2;
    if (pad < 0) pad = 0;
    if (n + pad + 2 >= (long)sizeof obj) die("--size too large");
    memset(obj + n, 'x', (size_t)pad);
    n += (int)pad;
    obj[n++] = '"';
    obj[n++] = '}';
    int m = snprintf(msg, sizeof msg, "{\"channel\":\"%s\",\"message\":%.*s}", opt.channel, n, obj);
    ws_frame(g_pub, 0x1, msg, (size_t)m);
    F.remaining[seq % RING_SIZE] = (int32_t)F.live;
    F.published++;
}

/* ------------------------------------------------------------------ */
/* sio-fanout: Socket.IO subscribers and keep-alive REST publishers    */

static struct {
    long joined, failed; /* subscribers through join_project */
    char first_fail[200];
    struct conn *pubs; /* opt.pub_conns HTTP connections */
    long npubs, pubs_open, next_pub;
    uint64_t requests, answered, non202;
    char first_bad[200];
    char req_head[256]; /* "POST /api/projects/X/broadcast ..." up to Content-Length: */
} S;

static void sio_fail(struct conn *c, const char *why, const uint8_t *d, size_t len)
{
    if (c->sio == SIO_FAILED || c->sio == SIO_READY) return;
    c->sio = SIO_FAILED;
    S.failed++;
    note(S.first_fail, sizeof S.first_fail, "%s: %.*s", why, (int)(len > 120 ? 120 : len), d);
}

static void sio_send(struct conn *c, const char *text)
{
    ws_frame(c, 0x1, text, strlen(text));
    conn_flush(c);
}

/* One Engine.IO text message to a subscriber. */
static void sio_sub_message(struct conn *c, const uint8_t *d, size_t len, int64_t now)
{
    if (len == 1 && d[0] == '2') { /* Engine.IO ping: pong at once */
        sio_send(c, "3");
        return;
    }
    switch (c->sio) {
    case SIO_WAIT_OPEN:
        if (len > 1 && d[0] == '0') {
            sio_send(c, "40");
            c->sio = SIO_WAIT_CONNECT;
        } else {
            sio_fail(c, "expected the Engine.IO open packet", d, len);
        }
        return;
    case SIO_WAIT_CONNECT:
        if (len >= 3 && memcmp(d, "40{", 3) == 0) {
            char join[160];
            /* a numeric project id goes out as a JSON number, like seed 002 */
            bool numeric =
                opt.project[0] != '\0' && strspn(opt.project, "0123456789") == strlen(opt.project);
            snprintf(join, sizeof join,
                     numeric ? "42[\"join_project\",{\"project_id\":%s}]"
                             : "42[\"join_project\",{\"project_id\":\"%s\"}]",
                     opt.project);
            sio_send(c, join);
            c->sio = SIO_WAIT_JOIN;
        } else if (len >= 2 && d[0] == '4' && d[1] == '4') {
            sio_fail(c, "CONNECT_ERROR", d, len);
        }
        return;
    case SIO_WAIT_JOIN:
        if (len > 19 && memcmp(d, "42[\"project_joined\"", 19) == 0) {
            c->sio = SIO_READY;
            S.joined++;
        } else if (len > 10 && memcmp(d, "42[\"error\"", 10) == 0) {
            sio_fail(c, "join_project refused", d, len);
        }
        return; /* connection_status etc. */
    case SIO_READY: fanout_deliver(c, d, len, now); return;
    default: return;
    }
}

static void sio_publish_one(int64_t t)
{
    uint64_t seq = F.published;
    char data[4096], body[4300], head[400];
    int n =
        snprintf(data, sizeof data, "{\"seq\":%" PRIu64 ",\"t\":%" PRId64 ",\"pad\":\"", seq, t);
    /* pad so the delivered data object is exactly --size bytes (if it fits) */
    long pad = opt.size - n - 2;
    if (pad < 0) pad = 0;
    if (n + pad + 2 >= (long)sizeof data) die("--size too large");
    memset(data + n, 'x', (size_t)pad);
    n += (int)pad;
    data[n++] = '"';
    data[n++] = '}';
    int bl = snprintf(body, sizeof body, "{\"event\":\"bench\",\"data\":%.*s}", n, data);
    int hl = snprintf(head, sizeof head, "%s%d\r\n\r\n", S.req_head, bl);
    struct conn *c = &S.pubs[S.next_pub++ % S.npubs];
    if (c->out_off > 0 && c->out_off == c->out.len) c->out.len = c->out_off = 0;
    buf_append(&c->out, head, (size_t)hl);
    buf_append(&c->out, body, (size_t)bl);
    S.requests++;
    F.remaining[seq % RING_SIZE] = (int32_t)F.live;
    F.published++;
}

static void sio_pub_flush(void)
{
    for (long i = 0; i < S.npubs; i++)
        if (S.pubs[i].state == ST_OPEN && S.pubs[i].out.len > S.pubs[i].out_off)
            conn_flush(&S.pubs[i]);
}

static bool sio_pub_alive(void)
{
    for (long i = 0; i < S.npubs; i++)
        if (S.pubs[i].state != ST_OPEN) return false;
    return true;
}

static void http_pub_start(struct conn *c, uint64_t index)
{
    c->role = R_HTTP;
    c->in.len = c->out.len = c->out_off = c->frag.len = 0;
    c->want_out = true;
    c->t_start = now_ns();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket: %s", strerror(errno));
    c->state = ST_CONNECTING;
    cs.inflight++;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)index;
    struct sockaddr_in dst = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port), .sin_addr = opt.host};
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)
        die("publisher connect: %s", strerror(errno));
    ep_set(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
}

/* Consumes complete HTTP responses (head + Content-Length body). */
static void http_pub_parse(struct conn *c)
{
    size_t off = 0;
    for (;;) {
        uint8_t *p = c->in.p + off;
        size_t avail = c->in.len - off;
        uint8_t *end = avail >= 4 ? memmem(p, avail, "\r\n\r\n", 4) : NULL;
        if (!end) {
            if (avail > MAX_RESPONSE_HEAD) die("publisher: response head too large");
            break;
        }
        size_t head = (size_t)(end - p) + 4;
        long clen = 0;
        for (uint8_t *q = p; q + 15 < end; q++) {
            if ((q == p || q[-1] == '\n') && strncasecmp((char *)q, "Content-Length:", 15) == 0) {
                clen = strtol((char *)q + 15, NULL, 10);
                break;
            }
        }
        if (avail < head + (size_t)clen) break;
        int status = (avail > 12 && memcmp(p, "HTTP/1.", 7) == 0) ? atoi((char *)p + 9) : 0;
        S.answered++;
        if (status != 202) {
            S.non202++;
            note(S.first_bad, sizeof S.first_bad, "%.*s",
                 (int)((head + (size_t)clen) > 180 ? 180 : head + (size_t)clen), p);
        }
        off += head + (size_t)clen;
    }
    if (off) {
        memmove(c->in.p, c->in.p + off, c->in.len - off);
        c->in.len -= off;
    }
}

static void http_pub_event(struct conn *c, uint32_t ev)
{
    if (c->state == ST_CONNECTING && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            conn_fail(c, "publisher connect: %s", strerror(err));
            return;
        }
        c->state = ST_OPEN;
        cs.inflight--;
        S.pubs_open++;
    }
    if (c->state != ST_OPEN) return;
    if (ev & EPOLLOUT) conn_flush(c);
    if (c->state != ST_OPEN || !(ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    for (;;) {
        buf_reserve(&c->in, 65536);
        ssize_t n = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) conn_lost(c, strerror(errno));
            return;
        }
        if (n == 0) {
            conn_lost(c, "publisher: server closed the HTTP connection");
            return;
        }
        c->in.len += (size_t)n;
        http_pub_parse(c);
        if ((size_t)n < 65536) return;
    }
}

/* Subscribers through join_project, publishers connected. */
static void sio_setup(struct conn *conns, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "/socket.io/?EIO=4&transport=websocket");
    open_all(conns, n, R_SUB, path, now_ns() + 60 * NS_PER_S);
    if (cs.opened < n)
        die("only %" PRIu64 " of %zu Socket.IO subscribers connected (%s)", cs.opened, n,
            cs.first_fail);
    int64_t deadline = now_ns() + 60 * NS_PER_S;
    while (S.joined + S.failed + (long)cs.closed_by_peer < (long)n && now_ns() < deadline)
        loop_once(20);
    if (S.joined < (long)n)
        die("only %ld of %zu Socket.IO subscribers joined project_%s (%s%s)", S.joined, n,
            opt.project, S.first_fail, cs.first_close);

    snprintf(S.req_head, sizeof S.req_head,
             "POST /api/projects/%s/broadcast HTTP/1.1\r\nHost: %s:%d\r\n"
             "Content-Type: application/json\r\nContent-Length: ",
             opt.project, inet_ntoa(opt.host), opt.port);
    S.npubs = opt.pub_conns;
    S.pubs = conns_new((size_t)S.npubs);
    for (long i = 0; i < S.npubs; i++) http_pub_start(&S.pubs[i], (uint64_t)i);
    deadline = now_ns() + 10 * NS_PER_S;
    while (S.pubs_open < S.npubs && now_ns() < deadline) loop_once(20);
    if (S.pubs_open < S.npubs)
        die("only %ld of %ld publisher connections opened (%s)", S.pubs_open, S.npubs,
            cs.first_fail);
    g_publish = sio_publish_one;
    g_pub_flush = sio_pub_flush;
    g_pub_alive = sio_pub_alive;
}

static void on_fanout_pub_message(const uint8_t *d, size_t len)
{
    F.pub_errors++;
    note(F.first_pub_error, sizeof F.first_pub_error, "%.*s", (int)(len > 180 ? 180 : len), d);
}

static void arm_timer(int64_t at)
{
    struct itimerspec its = {0};
    if (at <= 0) at = 1;
    its.it_value.tv_sec = at / NS_PER_S;
    its.it_value.tv_nsec = at % NS_PER_S;
    if (timerfd_settime(g_timerfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        die("timerfd_settime: %s", strerror(errno));
}

static void fmt_rate(char *out, size_t cap, double v)
{
    if (v >= 1e6)
        snprintf(out, cap, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(out, cap, "%.1fk", v / 1e3);
    else
        snprintf(out, cap, "%.0f", v);
}

static int64_t g_pace_start, g_pace_next;

/* Open loop: catch up with the schedule, whatever the backlog. */
static void pace_publish(void)
{
    int64_t now = now_ns();
    if (now < g_pace_next || F.phase == PH_DRAIN || F.phase == PH_SETUP) return;
    uint64_t due = (uint64_t)((double)(now - g_pace_start) * opt.rate / NS_PER_S) + 1;
    while (F.published < due) {
        if (F.published - F.completed >= RING_SIZE - 1) {
            F.overload = true;
            break;
        }
        int64_t sched = g_pace_start + (int64_t)((double)F.published * NS_PER_S / opt.rate);
        hist_add(&F.lag, now - sched);
        g_publish(now);
    }
    g_pace_next = g_pace_start + (int64_t)((double)F.published * NS_PER_S / opt.rate);
    arm_timer(g_pace_next);
    g_pub_flush();
}

static int run_fanout(void)
{
    size_t n = (size_t)opt.subs;
    struct conn *conns = conns_new(n + 1);
    F.phase = PH_SETUP;
    F.m0 = F.m1 = UINT64_MAX;
    F.wire_min = SIZE_MAX;

    if (g_sio) {
        sio_setup(conns, n);
    } else {
        open_all(conns, n, R_SUB, opt.sub_path, now_ns() + 60 * NS_PER_S);
        if (cs.opened < n)
            die("only %" PRIu64 " of %zu subscribers connected (%s)", cs.opened, n, cs.first_fail);
        g_pub = &conns[n];
        open_all(g_pub, 1, R_PUB, opt.pub_path, now_ns() + 10 * NS_PER_S);
        if (g_pub->state != ST_OPEN) die("publisher did not connect (%s)", cs.first_fail);
    }
    /* Give the server a moment to finish registering the subscribers. */
    run_for(300 * NS_PER_MS);
    F.live = (long)n - (long)cs.closed_by_peer;
    if (F.live <= 0) die("all subscribers were closed before publishing (%s)", cs.first_close);

    bool paced = opt.rate > 0;
    refresh_clock_offset();
    if (paced) {
        g_timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (g_timerfd < 0) die("timerfd_create: %s", strerror(errno));
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &g_timer_tag};
        epoll_ctl(g_ep, EPOLL_CTL_ADD, g_timerfd, &ev);
        /* default 50 us timer slack would show up as send jitter */
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    }

    int64_t start = now_ns();
    g_pace_start = g_pace_next = start;
    if (paced) g_pace = pace_publish;
    int64_t t_warm_end = start + (int64_t)(opt.warmup * NS_PER_S);
    int64_t t0 = 0, t1 = 0, drain_deadline = 0;
    double cpu0 = 0, cpu1 = 0;
    uint64_t last_completed = 0;
    int64_t last_progress = start;
    F.phase = PH_WARMUP;

    for (;;) {
        refresh_clock_offset(); /* follows NTP slewing of CLOCK_REALTIME */
        int64_t now = now_ns();
        if (F.phase == PH_WARMUP && now >= t_warm_end) {
            F.phase = PH_MEASURE;
            F.m0 = F.published;
            t0 = now;
            cpu0 = cpu_seconds();
        } else if (F.phase == PH_MEASURE && now >= t0 + (int64_t)(opt.seconds * NS_PER_S)) {
            F.phase = PH_DRAIN;
            F.m1 = F.published;
            t1 = now;
            cpu1 = cpu_seconds();
            drain_deadline = now + 20 * NS_PER_S; /* stalls end it sooner */
        }
        if (F.completed != last_completed) {
            last_completed = F.completed;
            last_progress = now;
        }
        if (F.phase == PH_DRAIN && (F.completed == F.published || now > drain_deadline ||
                                    now - last_progress > 3 * NS_PER_S))
            break;
        if (F.live <= 0 || !g_pub_alive())
            die("connections lost during the run (%s)", cs.first_close);

        if (paced) {
            pace_publish();
        } else if (F.phase != PH_DRAIN) {
            /* closed loop: keep `window` messages not yet fully delivered */
            for (uint64_t in_flight = F.published - F.completed; in_flight < (uint64_t)opt.window;
                 in_flight++)
                g_publish(now);
            g_pub_flush();
        }
        loop_once(paced ? 10 : 5);
    }

    double meas_s = (double)(t1 - t0) / NS_PER_S;
    uint64_t meas_msgs = F.m1 - F.m0;
    double expected = (double)meas_msgs * (double)n;
    double dps = (double)F.win_deliveries / meas_s;
    double mps = (double)meas_msgs / meas_s;
    double pct = expected > 0 ? 100.0 * (double)F.meas_deliveries / expected : 0;
    double p50 = hist_quantile(&F.lat, 0.50) / 1e3, p99 = hist_quantile(&F.lat, 0.99) / 1e3,
           p999 = hist_quantile(&F.lat, 0.999) / 1e3, mx = (double)F.lat.max / 1e3;
    double cpu = 100.0 * (cpu1 - cpu0) / meas_s;
    char r1[32], r2[32];
    fmt_rate(r1, sizeof r1, dps);
    fmt_rate(r2, sizeof r2, mps);

    double ap50 = hist_quantile(&F.app_lat, 0.50) / 1e3,
           ap99 = hist_quantile(&F.app_lat, 0.99) / 1e3;
    if (g_sio) {
        /* a REST answer other than 202 is a publisher error */
        F.pub_errors += S.non202;
        if (S.first_bad[0])
            snprintf(F.first_pub_error, sizeof F.first_pub_error, "%s", S.first_bad);
    }
    printf("%s: %zu subs, %ld B, %s: %s deliveries/s (%s msg/s), delivered %.3f%%, "
           "latency p50 %.0f us p99 %.0f us p99.9 %.0f us max %.0f us (%s; to our read: "
           "p50 %.0f p99 %.0f); gaps %" PRIu64 ", other %" PRIu64 ", loadgen cpu %.0f%%\n",
           opt.mode, n, opt.size, paced ? "paced" : "saturation", r1, r2, pct, p50, p99, p999, mx,
           opt.app_time ? "to our read" : "to kernel arrival", ap50, ap99, F.gaps, F.other, cpu);
    if (F.first_other[0]) printf("fanout: first non-bench message: %s\n", F.first_other);
    if (F.other_setup)
        printf("fanout: note: %" PRIu64 " messages arrived before publishing began (ignored)\n",
               F.other_setup);
    if (F.first_pub_error[0]) printf("fanout: first publisher reply: %s\n", F.first_pub_error);
    if (cs.first_close[0]) printf("fanout: first connection loss: %s\n", cs.first_close);
    if (F.overload)
        printf("fanout: server fell more than %u messages behind; publishing was held back\n",
               RING_SIZE);
    if (paced && F.lag.count && hist_quantile(&F.lag, 0.99) > 1e6)
        printf("fanout: warning: the generator sent late (p99 %.0f us behind schedule)\n",
               hist_quantile(&F.lag, 0.99) / 1e3);
    /* sio-fanout: the data object is --size bytes, the packet 42["bench",...] 12 more */
    size_t want_wire = (size_t)opt.size + (g_sio ? 12 : 0);
    if (F.wire_max && (F.wire_min != want_wire || F.wire_max != want_wire))
        printf("fanout: note: delivered payloads were %zu..%zu B, not %zu B\n", F.wire_min,
               F.wire_max, want_wire);
    if (g_sio)
        printf("sio-fanout: %" PRIu64 " REST publishes on %ld keep-alive connections, %" PRIu64
               " answered, %" PRIu64 " not 202; %" PRIu64
               " deliveries out of publish order (not loss)\n",
               S.requests, S.npubs, S.answered, S.non202, g_sio_ooo);

    printf("RESULT mode=%s subs=%zu size=%ld seconds=%.1f rate=%.1f window=%ld "
           "published=%" PRIu64 " deliveries=%" PRIu64 " deliveries_per_s=%.0f msgs_per_s=%.1f "
           "delivered_pct=%.4f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
           "app_p50_us=%.1f app_p99_us=%.1f latency_to=%s "
           "gaps=%" PRIu64 " lost=%" PRIu64 " reorder=%" PRIu64 " other=%" PRIu64 " closed=%" PRIu64
           " pub_errors=%" PRIu64 " overload=%d send_lag_p99_us=%.1f "
           "loadgen_cpu_pct=%.0f",
           opt.mode, n, opt.size, meas_s, opt.rate, paced ? 0 : opt.window, meas_msgs,
           F.meas_deliveries, dps, mps, pct, p50, p99, p999, mx, ap50, ap99,
           opt.app_time ? "read" : "kernel", F.gaps, F.lost_meas, F.reorder, F.other,
           cs.closed_by_peer, F.pub_errors, F.overload, hist_quantile(&F.lag, 0.99) / 1e3, cpu);
    if (g_sio)
        printf(" pub_conns=%ld pub_requests=%" PRIu64 " pub_answered=%" PRIu64
               " out_of_order=%" PRIu64,
               S.npubs, S.requests, S.answered, g_sio_ooo);
    printf("\n");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Idle-memory mode                                                   */

/* Reads a "Key:  N kB" line of a /proc file; -1 if absent. */
static long proc_kb(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0) {
            v = strtol(line + kl, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* Sums VmRSS and Pss (kB) over pid and all its descendants. The server
 * forks workers, so the master alone would miss almost everything. */
static void mem_tree(pid_t pid, int depth, long *rss, long *pss)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    long r = proc_kb(path, "VmRSS:");
    if (r < 0) return;
    *rss += r;
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    long p = proc_kb(path, "Pss:");
    if (p > 0) *pss += p;
    if (depth > 16) return;
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char cpath[320];
        snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", (int)pid, de->d_name);
        FILE *f = fopen(cpath, "r");
        if (!f) continue;
        int child;
        while (fscanf(f, "%d", &child) == 1) mem_tree(child, depth + 1, rss, pss);
        fclose(f);
    }
    closedir(d);
}

static void mem_sum(long *rss_kb, long *pss_kb)
{
    *rss_kb = *pss_kb = 0;
    for (int i = 0; i < opt.npids; i++) mem_tree(opt.pids[i], 0, rss_kb, pss_kb);
}

static int run_idle(void)
{
    if (opt.npids == 0) die("idle needs --pid");
    size_t n = (size_t)opt.conns;
    struct conn *conns = conns_new(n);

    long rss0, pss0, rss1, pss1;
    mem_sum(&rss0, &pss0);
    if (rss0 <= 0) die("cannot read memory of pid %d", (int)opt.pids[0]);

    int64_t t_open = now_ns();
    open_all(conns, n, R_SUB, opt.sub_path, t_open + 90 * NS_PER_S);
    double open_s = (double)(now_ns() - t_open) / NS_PER_S;
    if (cs.opened < n)
        die("only %" PRIu64 " of %zu connections opened (%s)", cs.opened, n, cs.first_fail);
    run_for((int64_t)(opt.settle * NS_PER_S));
    mem_sum(&rss1, &pss1);
    uint64_t still = cs.opened - cs.closed_by_peer;

    double per = (double)(rss1 - rss0) * 1024.0 / (double)n;
    double per_pss = (double)(pss1 - pss0) * 1024.0 / (double)n;
    printf("idle: %zu connections (opened in %.1f s, %" PRIu64
           " still open): RSS %.1f -> %.1f MiB, "
           "%.0f bytes/connection (PSS %.0f)\n",
           n, open_s, still, rss0 / 1024.0, rss1 / 1024.0, per, per_pss);
    if (cs.first_close[0]) printf("idle: first connection loss: %s\n", cs.first_close);
    printf("RESULT mode=idle conns=%zu open=%" PRIu64 " rss_before_kb=%ld rss_after_kb=%ld "
           "bytes_per_conn=%.0f pss_before_kb=%ld pss_after_kb=%ld pss_bytes_per_conn=%.0f "
           "open_seconds=%.2f\n",
           n, still, rss0, rss1, per, pss0, pss1, per_pss, open_s);
    return still == n ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* Handshake mode                                                     */

static struct {
    bool counting;
    uint64_t ok;
    struct hist lat; /* connect() to verified 101, ns */
} H;

static void on_hs_open(struct conn *c, int64_t now)
{
    if (H.counting) {
        H.ok++;
        hist_add(&H.lat, now - c->t_start);
    }
    /* Say goodbye properly, then drop the socket without waiting. */
    static const uint8_t normal[2] = {0x03, 0xe8}; /* 1000 */
    ws_frame(c, 0x8, normal, 2);
    send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    conn_shut(c);
}

static int run_handshake(void)
{
    size_t n = (size_t)opt.concurrency;
    struct conn *slots = conns_new(n);

    uint64_t fail0 = cs.failed, idx = 0;
    int64_t start = now_ns(), end = start + (int64_t)(opt.seconds * NS_PER_S);
    int64_t last_scan = start;
    H.counting = true;
    for (int64_t now = start; now < end; now = now_ns()) {
        for (size_t i = 0; i < n; i++)
            if (slots[i].state == ST_FREE || slots[i].state == ST_CLOSED)
                conn_start(&slots[i], R_HS, opt.sub_path, idx++, false);
        loop_once(10);
        if (now - last_scan > 100 * NS_PER_MS) {
            last_scan = now;
            for (size_t i = 0; i < n; i++)
                if ((slots[i].state == ST_CONNECTING || slots[i].state == ST_UPGRADING) &&
                    now - slots[i].t_start > HANDSHAKE_TIMEOUT_NS)
                    conn_fail(&slots[i], "handshake timeout");
        }
    }
    H.counting = false;
    double secs = (double)(now_ns() - start) / NS_PER_S;
    uint64_t failures = cs.failed - fail0;
    for (size_t i = 0; i < n; i++) /* unfinished ones are neither */
        if (slots[i].state == ST_CONNECTING || slots[i].state == ST_UPGRADING) conn_shut(&slots[i]);

    double hps = (double)H.ok / secs;
    double p50 = hist_quantile(&H.lat, 0.5) / 1e3, p99 = hist_quantile(&H.lat, 0.99) / 1e3;
    printf("handshake: %.0f handshakes/s over %.1f s at concurrency %zu, %" PRIu64
           " failures, latency p50 %.0f us p99 %.0f us\n",
           hps, secs, n, failures, p50, p99);
    if (cs.first_fail[0]) printf("handshake: first failure: %s\n", cs.first_fail);
    printf("RESULT mode=handshake seconds=%.1f concurrency=%zu handshakes=%" PRIu64
           " handshakes_per_s=%.0f failures=%" PRIu64 " p50_us=%.1f p99_us=%.1f\n",
           secs, n, H.ok, hps, failures, p50, p99);
    return H.ok > 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* Role dispatch                                                      */

static void on_open(struct conn *c, int64_t now)
{
    if (c->role == R_HS) on_hs_open(c, now);
}

static void on_message(struct conn *c, int op, uint8_t *data, size_t len, int64_t now)
{
    (void)op;
    c->msgs++;
    if (c->role == R_SUB && g_sio)
        sio_sub_message(c, data, len, now);
    else if (c->role == R_SUB && strcmp(opt.mode, "fanout") == 0)
        fanout_deliver(c, data, len, now);
    else if (c->role == R_PUB)
        on_fanout_pub_message(data, len);
}

static void on_lost(struct conn *c)
{
    if (c->role == R_SUB && (g_sio || strcmp(opt.mode, "fanout") == 0)) fanout_sub_lost(c);
}

/* ------------------------------------------------------------------ */
/* Setup                                                              */

static void raise_nofile(rlim_t want)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur >= want) return;
    struct rlimit nr = {want, rl.rlim_max > want ? rl.rlim_max : want};
    if (setrlimit(RLIMIT_NOFILE, &nr) == 0) return;
    /* not allowed to raise the hard limit: take what there is */
    nr.rlim_cur = rl.rlim_max;
    nr.rlim_max = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nr);
    if (rl.rlim_max < want)
        die("RLIMIT_NOFILE is %lu, need %lu (run as root or raise ulimit -n)",
            (unsigned long)rl.rlim_max, (unsigned long)want);
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: loadgen MODE --port P [options]\n"
        "  fanout    --subs N (1000) --size B (64) --seconds S (10) [--rate MSGS_PER_S]\n"
        "            [--warmup S (2)] [--window W (256)] [--app-time]\n"
        "            latency runs to the kernel's arrival time of each frame, which\n"
        "            leaves out the time spent reading the other sockets first;\n"
        "            --app-time measures to our read() instead\n"
        "  idle      --conns N (10000) --pid PID [--pid PID2] [--settle S (2)]\n"
        "  handshake --seconds S (5) --concurrency C (50)\n"
        "  sio-fanout --subs N (1000) --size B (64, the event's data object) --seconds S (10)\n"
        "            [--rate MSGS_PER_S] [--warmup S (2)] [--window W (256)] [--app-time]\n"
        "            [--project ID (1)] [--pub-conns K (4)]\n"
        "            N Socket.IO clients (Engine.IO v4 websocket: open, 40, join_project)\n"
        "            in room project_ID; events published with POST\n"
        "            /api/projects/ID/broadcast {\"event\":\"bench\",\"data\":{seq,t,pad}},\n"
        "            pipelined on K keep-alive HTTP connections; figures as for fanout\n"
        "common:     --host 127.x.x.x (127.0.0.1) --concurrency C (handshakes in flight)\n"
        "            --src-addrs K (spread over 127.0.0.1..K) --timeout S (hard limit)\n"
        "            --sub-path P (/api/v1/ws) --pub-path P (/ws/publish) --channel C (global)\n");
}

static double num_arg(const char *name, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || d < lo || d > hi) die("bad value for --%s: %s", name, v);
    return d;
}

static void parse_args(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        usage(stderr);
        exit(2);
    }
    opt.mode = argv[1];
    if (strcmp(opt.mode, "fanout") && strcmp(opt.mode, "idle") && strcmp(opt.mode, "handshake") &&
        strcmp(opt.mode, "sio-fanout")) {
        usage(stderr);
        exit(2);
    }
    g_sio = strcmp(opt.mode, "sio-fanout") == 0;
    inet_aton("127.0.0.1", &opt.host);
    bool seconds_set = false;

    static const struct option lopts[] = {
        {"port", required_argument, 0, 'p'},
        {"host", required_argument, 0, 'H'},
        {"subs", required_argument, 0, 's'},
        {"size", required_argument, 0, 'b'},
        {"seconds", required_argument, 0, 'd'},
        {"rate", required_argument, 0, 'r'},
        {"warmup", required_argument, 0, 'w'},
        {"window", required_argument, 0, 'W'},
        {"conns", required_argument, 0, 'n'},
        {"pid", required_argument, 0, 'P'},
        {"settle", required_argument, 0, 'S'},
        {"concurrency", required_argument, 0, 'c'},
        {"src-addrs", required_argument, 0, 'a'},
        {"timeout", required_argument, 0, 't'},
        {"sub-path", required_argument, 0, 1},
        {"pub-path", required_argument, 0, 2},
        {"channel", required_argument, 0, 3},
        {"app-time", no_argument, 0, 4},
        {"project", required_argument, 0, 5},
        {"pub-conns", required_argument, 0, 6},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "p:H:s:b:d:r:w:W:n:P:S:c:a:t:h", lopts, NULL)) != -1) {
        switch (ch) {
        case 'p': opt.port = (int)num_arg("port", optarg, 1, 65535); break;
        case 'H':
            /* loopback only: this tool must never load anything else */
            if (!inet_aton(optarg, &opt.host) || (ntohl(opt.host.s_addr) >> 24) != 127)
                die("--host must be a 127.0.0.0/8 address");
            break;
        case 's': opt.subs = (long)num_arg("subs", optarg, 1, 1e6); break;
        case 'b': opt.size = (long)num_arg("size", optarg, 1, 4000); break;
        case 'd':
            opt.seconds = num_arg("seconds", optarg, 0.1, 3600);
            seconds_set = true;
            break;
        case 'r': opt.rate = num_arg("rate", optarg, 0, 1e8); break;
        case 'w': opt.warmup = num_arg("warmup", optarg, 0, 600); break;
        case 'W': opt.window = (long)num_arg("window", optarg, 1, RING_SIZE / 2); break;
        case 'n': opt.conns = (long)num_arg("conns", optarg, 1, 2e6); break;
        case 'P':
            if (opt.npids == MAX_PIDS) die("too many --pid");
            opt.pids[opt.npids++] = (pid_t)num_arg("pid", optarg, 1, 1e9);
            break;
        case 'S': opt.settle = num_arg("settle", optarg, 0, 600); break;
        case 'c': opt.concurrency = (long)num_arg("concurrency", optarg, 1, 1e5); break;
        case 'a': opt.src_addrs = (long)num_arg("src-addrs", optarg, 1, 250); break;
        case 't': opt.timeout = num_arg("timeout", optarg, 1, 7200); break;
        case 1: opt.sub_path = optarg; break;
        case 2: opt.pub_path = optarg; break;
        case 3: opt.channel = optarg; break;
        case 4: opt.app_time = true; break;
        case 5:
            if (!*optarg || strlen(optarg) > 48 ||
                strspn(optarg,
                       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                    strlen(optarg))
                die("--project must be 1..48 of [A-Za-z0-9_-]");
            opt.project = optarg;
            break;
        case 6: opt.pub_conns = (long)num_arg("pub-conns", optarg, 1, 64); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind != argc) die("unexpected argument: %s", argv[optind]);
    if (opt.port == 0) die("--port is required");

    bool handshake = strcmp(opt.mode, "handshake") == 0;
    if (handshake && !seconds_set) opt.seconds = 5;
    if (opt.concurrency < 0) opt.concurrency = handshake ? 50 : 200;
    if (opt.src_addrs < 0) {
        if (handshake)
            opt.src_addrs = 4; /* spreads client TIME_WAIT over more ports */
        else if (strcmp(opt.mode, "idle") == 0)
            opt.src_addrs = opt.conns / 20000 + 1;
        else
            opt.src_addrs = opt.subs / 20000 + 1;
    }
    if (opt.timeout == 0) {
        if (strcmp(opt.mode, "fanout") == 0 || g_sio)
            opt.timeout = opt.warmup + opt.seconds + 90;
        else if (handshake)
            opt.timeout = opt.seconds + 30;
        else
            opt.timeout = 120 + opt.settle;
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* The RFC 6455 sample key guards the hand-written SHA-1/base64. */
    char acc[29];
    ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", acc);
    if (strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
        die("self-test of Sec-WebSocket-Accept failed: %s", acc);

    if (getrandom(&g_rng, sizeof g_rng, 0) != sizeof g_rng || g_rng == 0)
        g_rng = (uint64_t)now_ns() | 1;

    snprintf(g_alarm_msg, sizeof g_alarm_msg, "RESULT mode=%s error=timeout_after_%.0fs\n",
             opt.mode, opt.timeout);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)ceil(opt.timeout));
    signal(SIGPIPE, SIG_IGN);

    long need = strcmp(opt.mode, "idle") == 0     ? opt.conns
                : strcmp(opt.mode, "fanout") == 0 ? opt.subs + 1
                : g_sio                           ? opt.subs + opt.pub_conns
                                                  : opt.concurrency;
    raise_nofile((rlim_t)need + 64);

    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) die("epoll_create1: %s", strerror(errno));

    if (strcmp(opt.mode, "fanout") == 0 || g_sio) return run_fanout();
    if (strcmp(opt.mode, "idle") == 0) return run_idle();
    return run_handshake();
}
