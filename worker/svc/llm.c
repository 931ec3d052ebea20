/* LLM streams on the worker loop. See worker/svc/llm.h for the contract,
 * llm_internal.h for how delivery works; the HTTP backends are in
 * llm_http.c, the builtin backend's text in llm_builtin.c. */
#include "worker/svc/llm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "worker/svc/llm_builtin.h"
#include "worker/svc/llm_internal.h"

llm_state_t lg;

uint64_t llm_now_ms(void) { return loop_clock_ns() / 1000000; }

/* ---- lists ------------------------------------------------------------ */

void llm_mark_dirty(llm_stream_t *s)
{
    if (s->in_dirty || s->torn_down) return;
    s->in_dirty = 1;
    s->dnext = NULL;
    s->dprev = lg.dirty_tail;
    if (lg.dirty_tail)
        lg.dirty_tail->dnext = s;
    else
        lg.dirty_head = s;
    lg.dirty_tail = s;
}

void llm_dirty_unlink(llm_stream_t *s)
{
    if (!s->in_dirty) return;
    if (s->dprev)
        s->dprev->dnext = s->dnext;
    else
        lg.dirty_head = s->dnext;
    if (s->dnext)
        s->dnext->dprev = s->dprev;
    else
        lg.dirty_tail = s->dprev;
    s->in_dirty = 0;
    s->dprev = s->dnext = NULL;
}

/* ---- token FIFO ------------------------------------------------------- */

/* Only called outside user callbacks, so a token being delivered is never
 * moved under the callback's feet. */
void llm_queue_push(llm_stream_t *s, const char *text, size_t len)
{
    if (len == 0 || s->oom) return;
    if (s->q_off == s->q.len) {
        buf_reset(&s->q);
        s->q_off = 0;
    } else if (s->q_off > s->q.cap / 2) {
        buf_consume(&s->q, s->q_off);
        s->q_off = 0;
    }
    uint32_t n = (uint32_t)len;
    if (len > UINT32_MAX || buf_reserve(&s->q, 4 + len) < 0) {
        s->oom = 1;
        return;
    }
    buf_append(&s->q, &n, 4);
    buf_append(&s->q, text, len);
}

/* ---- ending a stream -------------------------------------------------- */

/* Releases the transfer and timers at once (a cancelled connection closes
 * now); the struct itself may outlive this while a callback runs. */
static void teardown(llm_stream_t *s)
{
    if (s->torn_down) return;
    s->torn_down = 1;
    if (lg.loop) {
        loop_timer_stop(lg.loop, &s->kick);
        loop_timer_stop(lg.loop, &s->timer);
    }
    s->timer_kind = T_NONE;
    llm_dirty_unlink(s);
    if (s->prev)
        s->prev->next = s->next;
    else if (lg.streams == s)
        lg.streams = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = NULL;
    lg.n_streams--;
    curl_xfer_close(&s->xfer);
}

static void stream_free(llm_stream_t *s)
{
    teardown(s);
    curl_slist_free_all(s->headers);
    llm_parser_free(&s->parser);
    free(s->body);
    free(s->errbody);
    free(s->answer);
    buf_free(&s->text);
    buf_free(&s->q);
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
int llm_pump(llm_stream_t *s)
{
    if (s->dead) return 0;
    if (s->busy) return 1; /* a callback of s is running: its caller pumps on */
    if (s->oom && s->outcome == OUT_NONE) {
        s->outcome = OUT_ERROR;
        snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
    }
    while (!s->paused && s->q_off < s->q.len) {
        uint32_t n;
        memcpy(&n, s->q.data + s->q_off, 4);
        const char *t = s->q.data + s->q_off + 4;
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
    if (s->paused || s->q_off < s->q.len || s->outcome == OUT_NONE) return 1;
    if (s->outcome == OUT_DONE && s->xfer.in_multi && !s->grace_over)
        return 1; /* the answer is complete; let the response end cleanly */
    finish(s);
    return 0;
}

void llm_process_dirty(void)
{
    /* Pop one at a time: a callback may cancel any other stream. */
    while (lg.dirty_head) {
        llm_stream_t *s = lg.dirty_head;
        llm_dirty_unlink(s);
        llm_pump(s);
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
    llm_queue_push(s, s->answer + s->answer_pos, n);
    s->answer_pos += n;
    if (s->answer_pos >= s->answer_len) s->outcome = OUT_DONE;
    if (!llm_pump(s)) return;
    if (!s->paused && s->outcome == OUT_NONE) {
        s->timer_kind = T_TICK;
        loop_timer_start(lg.loop, &s->timer, lg.token_ms, builtin_tick, s);
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
            llm_pump(s);
            return;
        }
        if (s->backend != LLM_BUILTIN) {
            llm_http_start(s);
            llm_pump(s);
        } else if (s->complete_done) {
            /* llm_complete: the whole text at once, no pacing. */
            llm_queue_push(s, s->answer, s->answer_len);
            s->outcome = OUT_DONE;
            llm_pump(s);
        } else if (!s->paused) {
            s->timer_kind = T_TICK;
            loop_timer_start(lg.loop, &s->timer, lg.token_ms, builtin_tick, s);
        }
        return;
    }
    /* Resumed: first what was held, then let the transfer go on. */
    if (s->paused || !llm_pump(s) || s->paused) return;
    if (s->backend == LLM_BUILTIN) {
        if (s->outcome == OUT_NONE && s->timer_kind == T_NONE) {
            s->timer_kind = T_TICK;
            loop_timer_start(lg.loop, &s->timer, lg.token_ms, builtin_tick, s);
        }
        return;
    }
    llm_http_resume(s);
    if (s->in_dirty) {
        llm_dirty_unlink(s);
        llm_pump(s);
    }
}

static void set_error(llm_stream_t *s, const char *msg)
{
    s->outcome = OUT_ERROR;
    snprintf(s->errmsg, sizeof s->errmsg, "%s", msg);
}

static llm_stream_t *stream_new(const llm_request_t *req, const llm_callbacks_t *cb, void *ud)
{
    if (!lg.inited || !req || !cb) return NULL;
    llm_stream_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cb = *cb;
    s->ud = ud;
    s->q.max = s->text.max = LLM_TEXT_MAX;
    s->backend = lg.backend;
    uint32_t max_tokens = req->max_tokens ? req->max_tokens : lg.max_tokens;
    snprintf(s->model, sizeof s->model, "%s",
             s->backend == LLM_BUILTIN ? "builtin"
             : req->model              ? req->model
                                       : lg.model);
    if (s->backend == LLM_BUILTIN) {
        s->answer = llm_builtin_answer(req, max_tokens);
        if (s->answer)
            s->answer_len = strlen(s->answer);
        else
            set_error(s, "out of memory");
    } else {
        double temp = req->temperature >= 0 ? req->temperature : lg.temperature;
        s->body = llm_http_body(req, req->model ? req->model : lg.model, temp, max_tokens);
        if (!s->body) set_error(s, "out of memory");
    }
    s->next = lg.streams;
    if (lg.streams) lg.streams->prev = s;
    lg.streams = s;
    lg.n_streams++;
    loop_timer_start(lg.loop, &s->kick, 0, kick, s);
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
    if (buf_append(&s->text, text, len) < 0) s->oom = 1;
}

static void collect_done(void *ud, uint32_t tokens)
{
    (void)tokens;
    llm_stream_t *s = ud;
    if (s->oom)
        s->complete_done(s->complete_ud, NULL, "out of memory");
    else
        s->complete_done(s->complete_ud, s->text.data ? s->text.data : "", NULL);
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
        loop_timer_stop(lg.loop, &s->timer);
        s->timer_kind = T_NONE;
    }
    if (s->backend != LLM_BUILTIN) llm_http_pause(s);
}

void llm_resume(llm_stream_t *s)
{
    if (!s || s->dead || s->finishing || !s->paused) return;
    s->paused = 0;
    /* Deliver from the loop, not inside the caller. */
    if (!loop_timer_armed(&s->kick)) loop_timer_start(lg.loop, &s->kick, 0, kick, s);
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

size_t llm_active_streams(void) { return lg.n_streams; }

const char *llm_backend_name(void)
{
    switch (lg.backend) {
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
    if (lg.inited) llm_shutdown();
    memset(&lg, 0, sizeof lg);
    lg.loop = loop;
    lg.backend = cfg->llm_backend;
    lg.temperature = cfg->llm_temperature;
    lg.connect_timeout_ms = cfg->llm_connect_timeout_ms;
    lg.idle_timeout_ms = cfg->llm_idle_timeout_ms;
    lg.max_tokens = cfg->llm_max_tokens ? cfg->llm_max_tokens : 512;
    lg.retries = cfg->llm_retries;
    lg.token_ms = cfg->llm_builtin_token_ms;
    if (lg.backend == LLM_BUILTIN) {
        lg.inited = 1;
        return 0;
    }
    const char *path = lg.backend == LLM_OPENAI ? "/v1/chat/completions" : "/api/chat";
    size_t ulen = strlen(cfg->llm_url);
    while (ulen && cfg->llm_url[ulen - 1] == '/') ulen--;
    size_t cap = ulen + strlen(path) + 1;
    lg.url = malloc(cap);
    lg.model = strdup(cfg->llm_model);
    if (!lg.url || !lg.model) goto fail;
    snprintf(lg.url, cap, "%.*s%s", (int)ulen, cfg->llm_url, path);
    if (cfg->llm_api_key_file[0] && read_api_key(cfg->llm_api_key_file, &lg.auth_header) != 0)
        goto fail;
    if (curl_io_init(loop, llm_process_dirty) != 0) goto fail;
    lg.curl_up = 1;
    lg.inited = 1;
    return 0;
fail:
    free(lg.url);
    free(lg.model);
    free(lg.auth_header);
    memset(&lg, 0, sizeof lg);
    return -1;
}

void llm_shutdown(void)
{
    if (!lg.inited) return;
    while (lg.streams) llm_cancel(lg.streams);
    if (lg.curl_up) curl_io_shutdown();
    free(lg.url);
    free(lg.model);
    free(lg.auth_header);
    memset(&lg, 0, sizeof lg);
}
