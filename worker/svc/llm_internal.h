/* Private to worker/svc/llm*.c: a stream's state and the client's, shared
 * by llm.c (the stream API, the token FIFO, delivery, builtin pacing) and
 * llm_http.c (the OpenAI and Ollama backends on io/curl.h: requests,
 * attempts, retries, timeouts). Nothing outside those files includes it.
 *
 * Every stream delivers through one path: deltas (parsed from the HTTP
 * body, or the builtin answer's words) go into a FIFO of tokens, and
 * llm_pump() hands them to on_token while the stream is not paused, then
 * reports the outcome once the FIFO is empty. libcurl callbacks only fill
 * the FIFO and mark the stream dirty; user callbacks run after
 * curl_multi_socket_action returns (io/curl.h's `after` hook), so a
 * callback may call back into libcurl (cancel, pause, start). */
#ifndef RAGWS_WORKER_SVC_LLM_INTERNAL_H
#define RAGWS_WORKER_SVC_LLM_INTERNAL_H

#include "base/buf.h"
#include "io/curl.h"
#include "protocol/llm_stream.h"
#include "worker/svc/llm.h"

/* Tokens held for delivery, and the text llm_complete collects: bounded
 * (a backend that streams more than this fails as out of memory). */
#define LLM_TEXT_MAX (16u << 20)

typedef enum { OUT_NONE, OUT_DONE, OUT_ERROR } outcome_t;
typedef enum { T_NONE, T_IDLE, T_RETRY, T_TICK, T_GRACE } timer_kind_t;

struct llm_stream {
    llm_stream_t *prev, *next;   /* lg.streams */
    llm_stream_t *dprev, *dnext; /* lg.dirty: has news for llm_pump() */
    int in_dirty;

    llm_callbacks_t cb;
    void *ud;
    /* llm_complete: cb collects into text, then calls complete_done. */
    void (*complete_done)(void *ud, const char *text, const char *error);
    void *complete_ud;
    buf_t text;

    int backend;
    int started, paused, dead, finishing, torn_down;
    int busy; /* inside one of its callbacks */
    outcome_t outcome;
    char errmsg[512];
    uint32_t delivered; /* tokens handed to on_token */
    uint32_t received;  /* deltas parsed, all attempts */

    buf_t q; /* token FIFO: [uint32 len][bytes]... from q_off on */
    size_t q_off;
    int oom;

    loop_timer_t kick;  /* 0 ms: start, or deliver after resume */
    loop_timer_t timer; /* idle timeout, retry backoff or builtin tick */
    timer_kind_t timer_kind;

    /* HTTP backends */
    curl_xfer_t xfer;
    struct curl_slist *headers;
    char *body;
    int curl_paused, connected;
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

/* The client of this process (llm_init). */
typedef struct llm_state {
    int inited;
    loop_t *loop;
    int backend;
    char *url; /* full endpoint URL */
    char *model;
    double temperature;
    uint32_t connect_timeout_ms, idle_timeout_ms, max_tokens, retries, token_ms;
    char *auth_header; /* "Authorization: Bearer ..." or NULL */
    int curl_up;       /* curl_io_init done */
    llm_stream_t *streams;
    size_t n_streams;
    llm_stream_t *dirty_head, *dirty_tail;
} llm_state_t;

extern llm_state_t lg;

uint64_t llm_now_ms(void);
void llm_mark_dirty(llm_stream_t *s);
void llm_dirty_unlink(llm_stream_t *s);
/* Only called outside user callbacks. */
void llm_queue_push(llm_stream_t *s, const char *text, size_t len);
/* Delivers queued tokens, then the outcome. Returns 0 when s is gone. */
int llm_pump(llm_stream_t *s);
/* Pops dirty streams one at a time and pumps them (io/curl's `after`). */
void llm_process_dirty(void);

/* llm_http.c */
/* The request body for req (NULL: out of memory). */
char *llm_http_body(const llm_request_t *req, const char *model, double temperature,
                    uint32_t max_tokens);
/* Starts (or retries) s's HTTP transfer. */
void llm_http_start(llm_stream_t *s);
/* Resumed: let the paused transfer go on and the idle timeout run again. */
void llm_http_resume(llm_stream_t *s);
/* Pause the transfer (it may not be connected yet: write_cb pauses then). */
void llm_http_pause(llm_stream_t *s);

#endif
