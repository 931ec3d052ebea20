/* The HTTP backends (openai: Server-Sent Events, ollama: NDJSON) on
 * io/curl.h: the request, one attempt after another, retries before the
 * first token, the idle timeout and the grace after the end marker. See
 * worker/svc/llm.h for the contract, llm_internal.h for the state. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "protocol/llm_request.h"
#include "worker/svc/llm_internal.h"

#define ERRBODY_MAX      4096
#define RETRY_BACKOFF_MS 100
/* After the end marker, how long the body's own end may take to arrive
 * before the connection is dropped (waiting keeps it reusable). */
#define END_GRACE_MS 500

__attribute__((format(printf, 3, 4))) static void fail_attempt(llm_stream_t *s, int retryable,
                                                               const char *fmt, ...);

char *llm_http_body(const llm_request_t *req, const char *model, double temperature,
                    uint32_t max_tokens)
{
    return llm_request_encode_mode(
        lg.backend == LLM_OPENAI ? LLM_DIALECT_OPENAI : LLM_DIALECT_OLLAMA, model, req->messages,
        req->n_messages, req->question, temperature, max_tokens, req->json_mode);
}

static void idle_expired(loop_t *loop, loop_timer_t *t);

static void arm_idle(llm_stream_t *s, uint64_t delay)
{
    s->timer_kind = T_IDLE;
    loop_timer_start(lg.loop, &s->timer, delay, idle_expired, s);
}

static void grace_over(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    llm_stream_t *s = t->data;
    s->timer_kind = T_NONE;
    s->grace_over = 1;
    llm_pump(s);
}

static void on_delta(void *ud, const char *text, size_t len)
{
    llm_stream_t *s = ud;
    s->received++;
    llm_queue_push(s, text, len);
    llm_mark_dirty(s);
}

/* Keep the start of an error body for its message. */
static void keep_error_body(llm_stream_t *s, const char *ptr, size_t n)
{
    if (!s->errbody) s->errbody = malloc(ERRBODY_MAX);
    size_t take = s->errbody ? ERRBODY_MAX - s->errbody_len : 0;
    if (take > n) take = n;
    if (take) {
        memcpy(s->errbody + s->errbody_len, ptr, take);
        s->errbody_len += take;
    }
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
    s->last_rx_ms = llm_now_ms();
    if (!s->http_status) curl_easy_getinfo(s->xfer.easy, CURLINFO_RESPONSE_CODE, &s->http_status);
    if (s->http_status < 200 || s->http_status >= 300) {
        keep_error_body(s, ptr, n);
        return n;
    }
    if (s->parser.state != LLM_PARSE_MORE)
        return n; /* after the end marker: the rest of the body is ignored */
    int st = llm_parser_feed(&s->parser, ptr, n, on_delta, s);
    if (st == LLM_PARSE_DONE) {
        s->outcome = OUT_DONE;
        s->timer_kind = T_GRACE;
        loop_timer_start(lg.loop, &s->timer, END_GRACE_MS, grace_over, s);
        llm_mark_dirty(s);
    } else if (st == LLM_PARSE_ERROR) {
        return 0; /* aborts the transfer; attempt_ended reports why */
    }
    return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    llm_stream_t *s = ud;
    s->last_rx_ms = llm_now_ms();
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
    s->last_rx_ms = llm_now_ms();
    if (!s->paused) arm_idle(s, lg.idle_timeout_ms);
    return CURL_PREREQFUNC_OK;
}

static void attempt_ended(curl_xfer_t *x, CURLcode rc);

static int setup_easy(llm_stream_t *s)
{
    if (curl_xfer_open(&s->xfer, attempt_ended) != 0) return -1;
    CURL *e = s->xfer.easy;
    int wire = lg.backend == LLM_OPENAI ? LLM_WIRE_SSE : LLM_WIRE_NDJSON;
    s->headers = curl_slist_append(s->headers, "Content-Type: application/json");
    s->headers =
        curl_slist_append(s->headers, wire == LLM_WIRE_SSE ? "Accept: text/event-stream"
                                                           : "Accept: application/x-ndjson");
    s->headers = curl_slist_append(s->headers, "Expect:"); /* no 100-continue round trip */
    if (lg.auth_header) s->headers = curl_slist_append(s->headers, lg.auth_header);
    if (!s->headers) return -1;
    curl_easy_setopt(e, CURLOPT_URL, lg.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ragws");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(s->body));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)lg.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, prereq_cb);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, s);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curl_err);
    llm_parser_init(&s->parser, wire, 0);
    return 0;
}

void llm_http_start(llm_stream_t *s)
{
    if (!s->xfer.easy && setup_easy(s) != 0) {
        fail_attempt(s, 0, "cannot set up a request to the LLM backend (out of memory)");
        return;
    }
    llm_parser_reset(&s->parser);
    s->http_status = 0;
    s->errbody_len = 0;
    s->connected = 0;
    s->curl_paused = 0;
    s->curl_err[0] = '\0';
    CURLMcode mc = curl_xfer_start(&s->xfer);
    if (mc != CURLM_OK)
        fail_attempt(s, 0, "cannot start a request to the LLM backend: %s",
                     curl_multi_strerror(mc));
}

static void retry_due(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    llm_stream_t *s = t->data;
    s->timer_kind = T_NONE;
    llm_http_start(s);
    llm_pump(s); /* llm_http_start may have failed for good */
}

static void fail_attempt(llm_stream_t *s, int retryable, const char *fmt, ...)
{
    char msg[sizeof s->errmsg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Retrying after a token would repeat it: only before the first one. */
    if (retryable && s->received == 0 && s->attempt < lg.retries) {
        s->attempt++;
        log_info("llm: attempt %u failed (%s); retrying", s->attempt, msg);
        s->timer_kind = T_RETRY;
        loop_timer_start(lg.loop, &s->timer, (uint64_t)RETRY_BACKOFF_MS * s->attempt, retry_due, s);
        return;
    }
    s->outcome = OUT_ERROR;
    memcpy(s->errmsg, msg, sizeof msg);
    llm_mark_dirty(s);
}

static void idle_expired(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    llm_stream_t *s = t->data;
    s->timer_kind = T_NONE;
    if (s->paused || !s->xfer.in_multi) return;
    if (s->outcome != OUT_NONE) { /* complete: only the body's end is missing */
        s->grace_over = 1;
        llm_pump(s);
        return;
    }
    uint64_t quiet = llm_now_ms() - s->last_rx_ms;
    if (quiet < lg.idle_timeout_ms) {
        arm_idle(s, lg.idle_timeout_ms - quiet);
        return;
    }
    curl_xfer_stop(&s->xfer); /* closes the connection */
    fail_attempt(s, 1, "the LLM backend sent nothing for %u ms", lg.idle_timeout_ms);
    llm_pump(s);
}

static void transport_failed(llm_stream_t *s, CURLcode rc)
{
    const char *why = s->curl_err[0] ? s->curl_err : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT && !s->connected)
        fail_attempt(s, 1, "cannot connect to the LLM backend at %s within %u ms", lg.url,
                     lg.connect_timeout_ms);
    else if (!s->connected)
        fail_attempt(s, 1, "cannot reach the LLM backend at %s: %s", lg.url, why);
    else if (rc == CURLE_PARTIAL_FILE)
        fail_attempt(s, 1, "the LLM backend closed the stream before it finished");
    else
        fail_attempt(s, 1, "the connection to the LLM backend failed: %s", why);
}

/* An attempt's transfer ended (io/curl took it out of the multi handle):
 * outcome, retry or error. */
static void attempt_ended(curl_xfer_t *x, CURLcode rc)
{
    llm_stream_t *s = (llm_stream_t *)((char *)x - offsetof(llm_stream_t, xfer));
    if (s->timer_kind == T_IDLE || s->timer_kind == T_GRACE) {
        loop_timer_stop(lg.loop, &s->timer);
        s->timer_kind = T_NONE;
    }
    llm_mark_dirty(s);
    if (s->outcome != OUT_NONE) return;
    if (s->parser.state == LLM_PARSE_ERROR) {
        fail_attempt(s, 1, "%s", llm_parser_error(&s->parser));
        return;
    }
    if (rc != CURLE_OK) {
        transport_failed(s, rc);
        return;
    }
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
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

void llm_http_pause(llm_stream_t *s)
{
    /* Fails before the connection exists; write_cb pauses then. */
    if (s->xfer.in_multi && !s->curl_paused &&
        curl_xfer_pause(&s->xfer, CURLPAUSE_RECV) == CURLE_OK)
        s->curl_paused = 1;
}

void llm_http_resume(llm_stream_t *s)
{
    if (s->xfer.in_multi && s->curl_paused) {
        s->curl_paused = 0;
        /* May call write_cb at once with the bytes libcurl held back. */
        curl_xfer_pause(&s->xfer, CURLPAUSE_CONT);
    }
    if (s->xfer.in_multi && s->connected && s->timer_kind == T_NONE && s->outcome == OUT_NONE) {
        s->last_rx_ms = llm_now_ms();
        arm_idle(s, lg.idle_timeout_ms);
    }
}
