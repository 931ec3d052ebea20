/* LLM streams on the worker loop. See worker/llm.h for the contract.
 *
 * Every stream delivers through one path: deltas (parsed from the HTTP
 * body, or the builtin answer's words) go into a FIFO of tokens, and pump()
 * hands them to on_token while the stream is not paused, then reports the
 * outcome once the FIFO is empty. libcurl callbacks only fill the FIFO and
 * mark the stream dirty; user callbacks run after curl_multi_socket_action
 * returns, so a callback may call back into libcurl (cancel, pause, start). */
#include "worker/svc/llm.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/llm_stream.h"
#include "base/log.h"
#include "worker/svc/llm_builtin.h"

#define ERRBODY_MAX      4096
#define RETRY_BACKOFF_MS 100
/* After the end marker, how long the body's own end may take to arrive
 * before the connection is dropped (waiting keeps it reusable). */
#define END_GRACE_MS 500

typedef enum { OUT_NONE, OUT_DONE, OUT_ERROR } outcome_t;
typedef enum { T_NONE, T_IDLE, T_RETRY, T_TICK, T_GRACE } timer_kind_t;

/* One socket libcurl asked us to watch (curl_multi_assign'ed to it). */
typedef struct sock_watch {
    loop_watch_t w;
    curl_socket_t fd;
    struct sock_watch *prev, *next;
} sock_watch_t;

struct llm_stream {
    llm_stream_t *prev, *next;   /* g.streams */
    llm_stream_t *dprev, *dnext; /* g.dirty: has news for pump() */
    int in_dirty;

    llm_callbacks_t cb;
    void *ud;
    /* llm_complete: cb collects into text, then calls complete_done. */
    void (*complete_done)(void *ud, const char *text, const char *error);
    void *complete_ud;
    char *text;
    size_t text_len, text_cap;

    int backend;
    int started, paused, dead, finishing, torn_down;
    int busy; /* inside one of its callbacks */
    outcome_t outcome;
    char errmsg[512];
    uint32_t delivered; /* tokens handed to on_token */
    uint32_t received;  /* deltas parsed, all attempts */

    char *q; /* token FIFO: [uint32 len][bytes]... */
    size_t q_off, q_len, q_cap;
    int oom;

    loop_timer_t kick;  /* 0 ms: start, or deliver after resume */
    loop_timer_t timer; /* idle timeout, retry backoff or builtin tick */
    timer_kind_t timer_kind;

    /* HTTP backends */
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    int in_multi, curl_paused, connected;
    int grace_over;   /* END_GRACE_MS passed since the end marker */
    uint32_t attempt; /* retries done */
    uint64_t last_rx_ms;
    long http_status;
    llm_stream_parser_t parser;
    char *errbody;
    size_t errbody_len;
    char curl_err[CURL_ERROR_SIZE];

    char model[128]; /* requested; replaced by the one the stream names */

    /* builtin */
    char *answer;
    size_t answer_len, answer_pos;
};

static struct {
    int inited;
    loop_t *loop;
    int backend;
    char *url; /* full endpoint URL */
    char *model;
    double temperature;
    uint32_t connect_timeout_ms, idle_timeout_ms, max_tokens, retries, token_ms;
    char *auth_header; /* "Authorization: Bearer ..." or NULL */
    CURLM *multi;
    loop_timer_t curl_timer;
    llm_stream_t *streams;
    size_t n_streams;
    llm_stream_t *dirty_head, *dirty_tail;
    sock_watch_t *watches;
} g;

static uint64_t now_ms(void) { return loop_clock_ns() / 1000000; }

/* ---- lists ------------------------------------------------------------ */

static void mark_dirty(llm_stream_t *s)
{
    if (s->in_dirty || s->torn_down) return;
    s->in_dirty = 1;
    s->dnext = NULL;
    s->dprev = g.dirty_tail;
    if (g.dirty_tail)
        g.dirty_tail->dnext = s;
    else
        g.dirty_head = s;
    g.dirty_tail = s;
}

static void dirty_unlink(llm_stream_t *s)
{
    if (!s->in_dirty) return;
    if (s->dprev)
        s->dprev->dnext = s->dnext;
    else
        g.dirty_head = s->dnext;
    if (s->dnext)
        s->dnext->dprev = s->dprev;
    else
        g.dirty_tail = s->dprev;
    s->in_dirty = 0;
    s->dprev = s->dnext = NULL;
}

/* ---- token FIFO ------------------------------------------------------- */

/* Only called outside user callbacks, so a token being delivered is never
 * moved under the callback's feet. */
static void queue_push(llm_stream_t *s, const char *text, size_t len)
{
    if (len == 0 || s->oom) return;
    if (s->q_off == s->q_len) {
        s->q_off = s->q_len = 0;
    } else if (s->q_off > s->q_cap / 2) {
        memmove(s->q, s->q + s->q_off, s->q_len - s->q_off);
        s->q_len -= s->q_off;
        s->q_off = 0;
    }
    size_t need = s->q_len + 4 + len;
    if (len > UINT32_MAX) {
        s->oom = 1;
        return;
    }
    if (need > s->q_cap) {
        size_t c = s->q_cap ? s->q_cap : 1024;
        while (c < need) c *= 2;
        char *q = realloc(s->q, c);
        if (!q) {
            s->oom = 1;
            return;
        }
        s->q = q;
        s->q_cap = c;
    }
    uint32_t n = (uint32_t)len;
    memcpy(s->q + s->q_len, &n, 4);
    memcpy(s->q + s->q_len + 4, text, len);
    s->q_len = need;
}

/* ---- ending a stream -------------------------------------------------- */

/* Releases the transfer and timers at once (a cancelled connection closes
 * now); the struct itself may outlive this while a callback runs. */
static void teardown(llm_stream_t *s)
{
    if (s->torn_down) return;
    s->torn_down = 1;
    if (g.loop) {
        loop_timer_stop(g.loop, &s->kick);
        loop_timer_stop(g.loop, &s->timer);
    }
    s->timer_kind = T_NONE;
    dirty_unlink(s);
    if (s->prev)
        s->prev->next = s->next;
    else if (g.streams == s)
        g.streams = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = NULL;
    g.n_streams--;
    if (s->easy) {
        if (s->in_multi) curl_multi_remove_handle(g.multi, s->easy);
        s->in_multi = 0;
        curl_easy_cleanup(s->easy);
        s->easy = NULL;
    }
}

static void stream_free(llm_stream_t *s)
{
    teardown(s);
    curl_slist_free_all(s->headers);
    llm_parser_free(&s->parser);
    free(s->body);
    free(s->errbody);
    free(s->answer);
    free(s->text);
    free(s->q);
    free(s);
}

/* Reports the outcome and frees s. */
static void finish(llm_stream_t *s)
{
    s->finishing = 1;
    teardown(s);
    s->busy++;
    if (s->outcome == OUT_DONE) {
        s->cb.on_done(s->ud, s->delivered);
    } else {
        log_warn("llm: %s", s->errmsg);
        s->cb.on_error(s->ud, LLM_ERR_UNAVAILABLE, s->errmsg);
    }
    s->busy--;
    stream_free(s);
}

/* Delivers queued tokens, then the outcome. Returns 0 when s is gone. */
static int pump(llm_stream_t *s)
{
    if (s->dead) return 0;
    if (s->busy) return 1; /* a callback of s is running: its caller pumps on */
    if (s->oom && s->outcome == OUT_NONE) {
        s->outcome = OUT_ERROR;
        snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
    }
    while (!s->paused && s->q_off < s->q_len) {
        uint32_t n;
        memcpy(&n, s->q + s->q_off, 4);
        const char *t = s->q + s->q_off + 4;
        s->q_off += 4 + (size_t)n;
        s->delivered++;
        s->busy++;
        s->cb.on_token(s->ud, t, n);
        s->busy--;
        if (s->dead) {
            stream_free(s);
            return 0;
        }
    }
    if (s->paused || s->q_off < s->q_len || s->outcome == OUT_NONE) return 1;
    if (s->outcome == OUT_DONE && s->in_multi && !s->grace_over)
        return 1; /* the answer is complete; let the response end cleanly */
    finish(s);
    return 0;
}

static void process_dirty(void)
{
    /* Pop one at a time: a callback may cancel any other stream. */
    while (g.dirty_head) {
        llm_stream_t *s = g.dirty_head;
        dirty_unlink(s);
        pump(s);
    }
}

__attribute__((format(printf, 3, 4))) static void fail_attempt(llm_stream_t *s, int retryable,
                                                               const char *fmt, ...);

/* ---- libcurl glue ------------------------------------------------------ */

static void check_multi_info(void);

static void after_action(void)
{
    check_multi_info();
    process_dirty();
}

static void sock_io(loop_t *loop, loop_watch_t *lw, uint32_t events)
{
    (void)loop;
    sock_watch_t *w = lw->data;
    int flags = 0;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
    if (events & EPOLLERR) flags |= CURL_CSELECT_ERR;
    int running;
    curl_multi_socket_action(g.multi, w->fd, flags, &running);
    after_action();
}

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)e;
    (void)userp;
    sock_watch_t *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            loop_watch_del(g.loop, &w->w);
            if (w->prev)
                w->prev->next = w->next;
            else
                g.watches = w->next;
            if (w->next) w->next->prev = w->prev;
            /* An event of the current epoll batch may still point at it. */
            loop_free_later(g.loop, w, free);
        }
        return 0;
    }
    uint32_t ev = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) return -1;
        w->fd = fd;
        if (loop_watch_add(g.loop, &w->w, fd, ev, sock_io, w) != 0) {
            log_error("llm: epoll add fd %d: %s", fd, strerror(errno));
            free(w);
            return -1;
        }
        w->next = g.watches;
        if (g.watches) g.watches->prev = w;
        g.watches = w;
        curl_multi_assign(g.multi, fd, w);
    } else if (loop_watch_mod(g.loop, &w->w, ev) != 0) {
        log_error("llm: epoll mod fd %d: %s", fd, strerror(errno));
        return -1;
    }
    return 0;
}

static void curl_timeout(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    (void)t;
    int running;
    curl_multi_socket_action(g.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    after_action();
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    (void)userp;
    if (timeout_ms < 0)
        loop_timer_stop(g.loop, &g.curl_timer);
    else
        loop_timer_start(g.loop, &g.curl_timer, (uint64_t)timeout_ms, curl_timeout, NULL);
    return 0;
}

static void idle_expired(loop_t *loop, loop_timer_t *t);

static void arm_idle(llm_stream_t *s, uint64_t delay)
{
    s->timer_kind = T_IDLE;
    loop_timer_start(g.loop, &s->timer, delay, idle_expired, s);
}

static void grace_over(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    llm_stream_t *s = t->data;
    s->timer_kind = T_NONE;
    s->grace_over = 1;
    pump(s);
}

static void on_delta(void *ud, const char *text, size_t len)
{
    llm_stream_t *s = ud;
    s->received++;
    queue_push(s, text, len);
    mark_dirty(s);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    llm_stream_t *s = ud;
    size_t n = size * nmemb;
    if (s->paused) {
        /* Paused before curl_easy_pause could apply (not yet connected):
         * libcurl keeps these bytes and hands them over on CURLPAUSE_CONT. */
        s->curl_paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    s->last_rx_ms = now_ms();
    if (!s->http_status) curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->http_status);
    if (s->http_status < 200 || s->http_status >= 300) {
        /* Keep the start of an error body for its message. */
        if (!s->errbody) s->errbody = malloc(ERRBODY_MAX);
        size_t take = s->errbody ? ERRBODY_MAX - s->errbody_len : 0;
        if (take > n) take = n;
        if (take) {
            memcpy(s->errbody + s->errbody_len, ptr, take);
            s->errbody_len += take;
        }
        return n;
    }
    if (s->parser.state != LLM_PARSE_MORE)
        return n; /* after the end marker: the rest of the body is ignored */
    int st = llm_parser_feed(&s->parser, ptr, n, on_delta, s);
    if (st == LLM_PARSE_DONE) {
        s->outcome = OUT_DONE;
        s->timer_kind = T_GRACE;
        loop_timer_start(g.loop, &s->timer, END_GRACE_MS, grace_over, s);
        mark_dirty(s);
    } else if (st == LLM_PARSE_ERROR) {
        return 0; /* aborts the transfer; check_multi_info reports why */
    }
    return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    llm_stream_t *s = ud;
    s->last_rx_ms = now_ms();
    return size * nmemb;
}

/* Connected (or reusing a connection): from here on silence counts. */
static int prereq_cb(void *ud, char *ip, char *lip, int port, int lport)
{
    (void)ip;
    (void)lip;
    (void)port;
    (void)lport;
    llm_stream_t *s = ud;
    s->connected = 1;
    s->last_rx_ms = now_ms();
    if (!s->paused) arm_idle(s, g.idle_timeout_ms);
    return CURL_PREREQFUNC_OK;
}

static int setup_easy(llm_stream_t *s)
{
    s->easy = curl_easy_init();
    if (!s->easy) return -1;
    CURL *e = s->easy;
    int wire = g.backend == LLM_OPENAI ? LLM_WIRE_SSE : LLM_WIRE_NDJSON;
    s->headers = curl_slist_append(s->headers, "Content-Type: application/json");
    s->headers =
        curl_slist_append(s->headers, wire == LLM_WIRE_SSE ? "Accept: text/event-stream"
                                                           : "Accept: application/x-ndjson");
    s->headers = curl_slist_append(s->headers, "Expect:"); /* no 100-continue round trip */
    if (g.auth_header) s->headers = curl_slist_append(s->headers, g.auth_header);
    if (!s->headers) return -1;
    curl_easy_setopt(e, CURLOPT_URL, g.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ragws");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(s->body));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)g.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, prereq_cb);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, s);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curl_err);
    llm_parser_init(&s->parser, wire, 0);
    return 0;
}

static void start_attempt(llm_stream_t *s)
{
    if (!s->easy && setup_easy(s) != 0) {
        fail_attempt(s, 0, "cannot set up a request to the LLM backend (out of memory)");
        return;
    }
    llm_parser_reset(&s->parser);
    s->http_status = 0;
    s->errbody_len = 0;
    s->connected = 0;
    s->curl_paused = 0;
    s->curl_err[0] = '\0';
    CURLMcode mc = curl_multi_add_handle(g.multi, s->easy);
    if (mc != CURLM_OK) {
        fail_attempt(s, 0, "cannot start a request to the LLM backend: %s",
                     curl_multi_strerror(mc));
        return;
    }
    s->in_multi = 1;
}

static void retry_due(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    llm_stream_t *s = t->data;
    s->timer_kind = T_NONE;
    start_attempt(s);
    pump(s); /* start_attempt may have failed for good */
}

static void fail_attempt(llm_stream_t *s, int retryable, const char *fmt, ...)
{
    char msg[sizeof s->errmsg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Retrying after a token would repeat it: only before the first one. */
    if (retryable && s->received == 0 && s->attempt < g.retries) {
        s->attempt++;
        log_info("llm: attempt %u failed (%s); retrying", s->attempt, msg);
        s->timer_kind = T_RETRY;
        loop_timer_start(g.loop, &s->timer, (uint64_t)RETRY_BACKOFF_MS * s->attempt, retry_due, s);
        return;
    }
    s->outcome = OUT_ERROR;
    memcpy(s->errmsg, msg, sizeof msg);
    mark_dirty(s);
}

static void idle_expired(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    llm_stream_t *s = t->data;
    s->timer_kind = T_NONE;
    if (s->paused || !s->in_multi) return;
    if (s->outcome != OUT_NONE) { /* complete: only the body's end is missing */
        s->grace_over = 1;
        pump(s);
        return;
    }
    uint64_t quiet = now_ms() - s->last_rx_ms;
    if (quiet < g.idle_timeout_ms) {
        arm_idle(s, g.idle_timeout_ms - quiet);
        return;
    }
    curl_multi_remove_handle(g.multi, s->easy); /* closes the connection */
    s->in_multi = 0;
    fail_attempt(s, 1, "the LLM backend sent nothing for %u ms", g.idle_timeout_ms);
    pump(s);
}

/* An attempt's transfer ended: outcome, retry or error. */
static void attempt_ended(llm_stream_t *s, CURLcode rc)
{
    if (s->timer_kind == T_IDLE || s->timer_kind == T_GRACE) {
        loop_timer_stop(g.loop, &s->timer);
        s->timer_kind = T_NONE;
    }
    mark_dirty(s);
    if (s->outcome != OUT_NONE) return;
    if (s->parser.state == LLM_PARSE_ERROR) {
        fail_attempt(s, 1, "%s", llm_parser_error(&s->parser));
        return;
    }
    if (rc != CURLE_OK) {
        const char *why = s->curl_err[0] ? s->curl_err : curl_easy_strerror(rc);
        if (rc == CURLE_OPERATION_TIMEDOUT && !s->connected)
            fail_attempt(s, 1, "cannot connect to the LLM backend at %s within %u ms", g.url,
                         g.connect_timeout_ms);
        else if (!s->connected)
            fail_attempt(s, 1, "cannot reach the LLM backend at %s: %s", g.url, why);
        else if (rc == CURLE_PARTIAL_FILE)
            fail_attempt(s, 1, "the LLM backend closed the stream before it finished");
        else
            fail_attempt(s, 1, "the connection to the LLM backend failed: %s", why);
        return;
    }
    long code = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code >= 300) {
        char detail[300];
        llm_error_message(s->errbody ? s->errbody : "", s->errbody_len, detail, sizeof detail);
        fail_attempt(s, code >= 500 || code == 429, "the LLM backend answered HTTP %ld%s%s", code,
                     detail[0] ? ": " : "", detail);
        return;
    }
    int st = llm_parser_finish(&s->parser, on_delta, s);
    if (st == LLM_PARSE_DONE)
        s->outcome = OUT_DONE;
    else if (st == LLM_PARSE_ERROR)
        fail_attempt(s, 1, "%s", llm_parser_error(&s->parser));
    else
        fail_attempt(s, 1, "the LLM backend closed the stream before it finished");
}

static void check_multi_info(void)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(g.multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result; /* m is invalid after remove_handle */
        char *priv = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
        llm_stream_t *s = (llm_stream_t *)priv;
        curl_multi_remove_handle(g.multi, e);
        if (!s) continue;
        s->in_multi = 0;
        attempt_ended(s, rc);
    }
}

/* ---- builtin ------------------------------------------------------------ */

static void builtin_tick(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    llm_stream_t *s = t->data;
    s->timer_kind = T_NONE;
    if (s->paused) return;
    size_t n = llm_builtin_token_len(s->answer, s->answer_len, s->answer_pos);
    queue_push(s, s->answer + s->answer_pos, n);
    s->answer_pos += n;
    if (s->answer_pos >= s->answer_len) s->outcome = OUT_DONE;
    if (!pump(s)) return;
    if (!s->paused && s->outcome == OUT_NONE) {
        s->timer_kind = T_TICK;
        loop_timer_start(g.loop, &s->timer, g.token_ms, builtin_tick, s);
    }
}

/* ---- the stream API ---------------------------------------------------- */

static void kick(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    llm_stream_t *s = t->data;
    if (!s->started) {
        s->started = 1;
        if (s->outcome != OUT_NONE) { /* set up failed */
            pump(s);
            return;
        }
        if (s->backend != LLM_BUILTIN) {
            start_attempt(s);
            pump(s);
        } else if (s->complete_done) {
            /* llm_complete: the whole text at once, no pacing. */
            queue_push(s, s->answer, s->answer_len);
            s->outcome = OUT_DONE;
            pump(s);
        } else if (!s->paused) {
            s->timer_kind = T_TICK;
            loop_timer_start(g.loop, &s->timer, g.token_ms, builtin_tick, s);
        }
        return;
    }
    /* Resumed: first what was held, then let the transfer go on. */
    if (s->paused || !pump(s) || s->paused) return;
    if (s->backend == LLM_BUILTIN) {
        if (s->outcome == OUT_NONE && s->timer_kind == T_NONE) {
            s->timer_kind = T_TICK;
            loop_timer_start(g.loop, &s->timer, g.token_ms, builtin_tick, s);
        }
        return;
    }
    if (s->in_multi && s->curl_paused) {
        s->curl_paused = 0;
        /* May call write_cb at once with the bytes libcurl held back. */
        curl_easy_pause(s->easy, CURLPAUSE_CONT);
    }
    if (s->in_multi && s->connected && s->timer_kind == T_NONE && s->outcome == OUT_NONE) {
        s->last_rx_ms = now_ms();
        arm_idle(s, g.idle_timeout_ms);
    }
    if (s->in_dirty) {
        dirty_unlink(s);
        pump(s);
    }
}

static void set_error(llm_stream_t *s, const char *msg)
{
    s->outcome = OUT_ERROR;
    snprintf(s->errmsg, sizeof s->errmsg, "%s", msg);
}

/* A JSON string for s; invalid UTF-8 bytes become '?'. */
static json_t *json_text(const char *s)
{
    if (!s) s = "";
    json_t *j = json_string(s);
    if (j) return j;
    char *c = strdup(s);
    if (!c) return NULL;
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    j = json_string(c);
    free(c);
    return j;
}

static char *request_body(const llm_request_t *req, const char *model, double temperature,
                          uint32_t max_tokens)
{
    json_t *root = json_object(), *msgs = json_array();
    if (!root || !msgs) {
        json_decref(root);
        json_decref(msgs);
        return NULL;
    }
    json_object_set_new(root, "model", json_text(model));
    for (size_t i = 0; i < req->n_messages; i++) {
        json_t *m = json_object();
        json_object_set_new(m, "role",
                            json_text(req->messages[i].role ? req->messages[i].role : "user"));
        json_object_set_new(m, "content", json_text(req->messages[i].content));
        json_array_append_new(msgs, m);
    }
    if (req->n_messages == 0) {
        json_t *m = json_object();
        json_object_set_new(m, "role", json_string("user"));
        json_object_set_new(m, "content", json_text(req->question));
        json_array_append_new(msgs, m);
    }
    json_object_set_new(root, "messages", msgs);
    json_object_set_new(root, "stream", json_true());
    if (g.backend == LLM_OPENAI) {
        json_object_set_new(root, "temperature", json_real(temperature));
        json_object_set_new(root, "max_tokens", json_integer(max_tokens));
    } else {
        json_t *o = json_object();
        json_object_set_new(o, "temperature", json_real(temperature));
        json_object_set_new(o, "num_predict", json_integer(max_tokens));
        json_object_set_new(root, "options", o);
    }
    char *body = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10)); /* 0.3, not 0.299... */
    json_decref(root);
    return body;
}

static llm_stream_t *stream_new(const llm_request_t *req, const llm_callbacks_t *cb, void *ud)
{
    if (!g.inited || !req || !cb) return NULL;
    llm_stream_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cb = *cb;
    s->ud = ud;
    s->backend = g.backend;
    uint32_t max_tokens = req->max_tokens ? req->max_tokens : g.max_tokens;
    snprintf(s->model, sizeof s->model, "%s",
             s->backend == LLM_BUILTIN ? "builtin"
             : req->model              ? req->model
                                       : g.model);
    if (s->backend == LLM_BUILTIN) {
        s->answer = llm_builtin_answer(req, max_tokens);
        if (s->answer)
            s->answer_len = strlen(s->answer);
        else
            set_error(s, "out of memory");
    } else {
        double temp = req->temperature >= 0 ? req->temperature : g.temperature;
        s->body = request_body(req, req->model ? req->model : g.model, temp, max_tokens);
        if (!s->body) set_error(s, "out of memory");
    }
    s->next = g.streams;
    if (g.streams) g.streams->prev = s;
    g.streams = s;
    g.n_streams++;
    loop_timer_start(g.loop, &s->kick, 0, kick, s);
    return s;
}

llm_stream_t *llm_start(const llm_request_t *req, const llm_callbacks_t *cb, void *ud)
{
    if (!cb || !cb->on_token || !cb->on_done || !cb->on_error) return NULL;
    return stream_new(req, cb, ud);
}

static void collect_token(void *ud, const char *text, size_t len)
{
    llm_stream_t *s = ud;
    if (s->oom) return;
    if (s->text_len + len + 1 > s->text_cap) {
        size_t c = s->text_cap ? s->text_cap : 1024;
        while (c < s->text_len + len + 1) c *= 2;
        char *t = realloc(s->text, c);
        if (!t) {
            s->oom = 1;
            return;
        }
        s->text = t;
        s->text_cap = c;
    }
    memcpy(s->text + s->text_len, text, len);
    s->text_len += len;
    s->text[s->text_len] = '\0';
}

static void collect_done(void *ud, uint32_t tokens)
{
    (void)tokens;
    llm_stream_t *s = ud;
    if (s->oom)
        s->complete_done(s->complete_ud, NULL, "out of memory");
    else
        s->complete_done(s->complete_ud, s->text ? s->text : "", NULL);
}

static void collect_error(void *ud, const char *code, const char *message)
{
    (void)code;
    llm_stream_t *s = ud;
    s->complete_done(s->complete_ud, NULL, message);
}

llm_stream_t *llm_complete(const llm_request_t *req,
                           void (*done)(void *ud, const char *text, const char *error), void *ud)
{
    static const llm_callbacks_t collect = {collect_token, collect_done, collect_error};
    if (!done) return NULL;
    llm_stream_t *s = stream_new(req, &collect, NULL);
    if (s) {
        s->ud = s;
        s->complete_done = done;
        s->complete_ud = ud;
    }
    return s;
}

void llm_pause(llm_stream_t *s)
{
    if (!s || s->dead || s->finishing || s->paused) return;
    s->paused = 1;
    if (s->timer_kind == T_IDLE || s->timer_kind == T_TICK) {
        loop_timer_stop(g.loop, &s->timer);
        s->timer_kind = T_NONE;
    }
    /* Fails before the connection exists; write_cb pauses then. */
    if (s->in_multi && !s->curl_paused && curl_easy_pause(s->easy, CURLPAUSE_RECV) == CURLE_OK)
        s->curl_paused = 1;
}

void llm_resume(llm_stream_t *s)
{
    if (!s || s->dead || s->finishing || !s->paused) return;
    s->paused = 0;
    /* Deliver from the loop, not inside the caller. */
    if (!loop_timer_armed(&s->kick)) loop_timer_start(g.loop, &s->kick, 0, kick, s);
}

void llm_cancel(llm_stream_t *s)
{
    if (!s || s->dead || s->finishing) return;
    s->dead = 1;
    teardown(s);
    if (!s->busy) stream_free(s);
}

const char *llm_stream_model(const llm_stream_t *s)
{
    return s->parser.model[0] ? s->parser.model : s->model;
}

size_t llm_active_streams(void) { return g.n_streams; }

const char *llm_backend_name(void)
{
    switch (g.backend) {
    case LLM_OPENAI: return "openai";
    case LLM_OLLAMA: return "ollama";
    default: return "builtin";
    }
}

/* ---- init / shutdown ----------------------------------------------------- */

static int read_api_key(const char *path, char **header)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        log_error("llm: api_key_file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    if (!fgets(line, sizeof line, f)) line[0] = '\0';
    fclose(f);
    size_t b = 0, n = strlen(line);
    while (b < n && (line[b] == ' ' || line[b] == '\t')) b++;
    while (n > b && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                     line[n - 1] == '\t'))
        n--;
    if (n == b) {
        log_error("llm: api_key_file %s: the first line is empty", path);
        return -1;
    }
    size_t len = n - b + sizeof "Authorization: Bearer ";
    *header = malloc(len);
    if (!*header) return -1;
    snprintf(*header, len, "Authorization: Bearer %.*s", (int)(n - b), line + b);
    return 0;
}

int llm_init(loop_t *loop, const ragws_config_t *cfg)
{
    if (g.inited) llm_shutdown();
    memset(&g, 0, sizeof g);
    g.loop = loop;
    g.backend = cfg->llm_backend;
    g.temperature = cfg->llm_temperature;
    g.connect_timeout_ms = cfg->llm_connect_timeout_ms;
    g.idle_timeout_ms = cfg->llm_idle_timeout_ms;
    g.max_tokens = cfg->llm_max_tokens ? cfg->llm_max_tokens : 512;
    g.retries = cfg->llm_retries;
    g.token_ms = cfg->llm_builtin_token_ms;
    if (g.backend == LLM_BUILTIN) {
        g.inited = 1;
        return 0;
    }
    const char *path = g.backend == LLM_OPENAI ? "/v1/chat/completions" : "/api/chat";
    size_t ulen = strlen(cfg->llm_url);
    while (ulen && cfg->llm_url[ulen - 1] == '/') ulen--;
    size_t cap = ulen + strlen(path) + 1;
    g.url = malloc(cap);
    g.model = strdup(cfg->llm_model);
    if (!g.url || !g.model) goto fail;
    snprintf(g.url, cap, "%.*s%s", (int)ulen, cfg->llm_url, path);
    if (cfg->llm_api_key_file[0] && read_api_key(cfg->llm_api_key_file, &g.auth_header) != 0)
        goto fail;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("llm: curl_global_init failed");
        goto fail;
    }
    g.multi = curl_multi_init();
    if (!g.multi) {
        curl_global_cleanup();
        goto fail;
    }
    curl_multi_setopt(g.multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(g.multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    g.inited = 1;
    return 0;
fail:
    free(g.url);
    free(g.model);
    free(g.auth_header);
    memset(&g, 0, sizeof g);
    return -1;
}

void llm_shutdown(void)
{
    if (!g.inited) return;
    while (g.streams) llm_cancel(g.streams);
    if (g.multi) {
        /* Cached connections close here; their watches are ours to free. */
        curl_multi_cleanup(g.multi);
        loop_timer_stop(g.loop, &g.curl_timer);
        while (g.watches) {
            sock_watch_t *w = g.watches;
            g.watches = w->next;
            loop_watch_del(g.loop, &w->w);
            loop_free_later(g.loop, w, free);
        }
        curl_global_cleanup();
    }
    free(g.url);
    free(g.model);
    free(g.auth_header);
    memset(&g, 0, sizeof g);
}
