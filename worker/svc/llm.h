/* The LLM client of a worker: streams an answer from the configured backend
 * (S6) into callbacks run by the worker's event loop.
 *
 *   builtin  offline and deterministic: an extractive answer composed from
 *            the retrieved passages (worker/svc/llm_builtin.c), one word per
 *            llm.builtin_token_delay tick.
 *   openai   POST <llm.url>/v1/chat/completions, Server-Sent Events.
 *   ollama   POST <llm.url>/api/chat, newline-delimited JSON.
 *
 * HTTP backends (worker/svc/llm_http.c) run on io/curl.h, libcurl's multi
 * interface driven by the loop (socket watches and one timer); nothing
 * blocks. Connect timeout from
 * llm.connect_timeout, idle timeout (no byte for llm.idle_timeout) from a
 * loop timer. Failures before the first token are retried llm.retries times
 * (100 ms x attempt backoff) for transport errors, idle timeouts, HTTP 5xx
 * and 429, and errors inside the stream; every failure ends as
 * on_error("LLM_UNAVAILABLE", message).
 *
 * Callbacks always come from the loop, never from inside llm_* calls, so a
 * caller can set up its state after llm_start returns. A callback may call
 * llm_pause/llm_resume/llm_cancel on its own or any other stream. */
#ifndef RAGWS_WORKER_LLM_H
#define RAGWS_WORKER_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/loop.h"
#include "protocol/llm_request.h"

#define LLM_ERR_UNAVAILABLE "LLM_UNAVAILABLE"

typedef struct llm_stream llm_stream_t;

/* llm_message_t (role "system" | "user" | "assistant", content): the
 * wire type of protocol/llm_request.h, which encodes the request bodies. */

/* A retrieved passage (the builtin backend composes its answer from these). */
typedef struct llm_passage {
    const char *source;
    const char *text;
    double score;
} llm_passage_t;

typedef struct llm_request {
    const llm_message_t *messages; /* the prompt (system + history + user); */
    size_t n_messages;             /* none: one user message with question */
    const char *question;          /* the user's question (builtin uses it) */
    const llm_passage_t *passages; /* retrieved context (builtin composes from it) */
    size_t n_passages;
    const char *model;   /* NULL = llm.model */
    double temperature;  /* < 0 = llm.temperature */
    uint32_t max_tokens; /* 0 = llm.max_tokens */
    int json_mode;       /* ask for a JSON object (the backend's JSON mode) */
} llm_request_t;

typedef struct llm_callbacks {
    void (*on_token)(void *ud, const char *text, size_t len); /* one token/delta, never empty */
    void (*on_done)(void *ud, uint32_t tokens);               /* finished normally */
    /* code LLM_ERR_UNAVAILABLE; message is for the log (it may name the
     * backend's URL and libcurl's text), never for clients. */
    void (*on_error)(void *ud, const char *code, const char *message);
} llm_callbacks_t;

/* Per worker, after fork. Reads llm.api_key_file (its first line). Returns
 * 0, or -1 (logged) when the key file cannot be read or libcurl fails. */
int llm_init(loop_t *loop, const ragws_config_t *cfg);
/* Cancels every stream (no callbacks) and releases libcurl. */
void llm_shutdown(void);

/* Starts a stream; copies what it needs from req. NULL only when out of
 * memory or before llm_init. */
llm_stream_t *llm_start(const llm_request_t *req, const llm_callbacks_t *cb, void *ud);
/* Stops delivering tokens and pauses the transfer (curl_easy_pause); the
 * idle timeout does not run while paused. */
void llm_pause(llm_stream_t *s);
/* Delivers what was held, in order, then continues: nothing lost or
 * duplicated. Delivery starts from the loop, not inside this call. */
void llm_resume(llm_stream_t *s);
/* Aborts at once (the connection is closed), no further callbacks, frees s. */
void llm_cancel(llm_stream_t *s);
/* After on_done/on_error the stream is finished: the library frees it after
 * the callback returns; do not call anything on it. */

/* Non-streaming helper for follow-ups/analysis: collects the whole answer
 * text; done gets (text, NULL) or (NULL, error message). The builtin backend
 * answers with its composed text at once (callers wanting follow-ups or
 * analysis with builtin use the rules below). Cancel with llm_cancel. */
llm_stream_t *llm_complete(const llm_request_t *req,
                           void (*done)(void *ud, const char *text, const char *error), void *ud);

/* Deterministic rules used with builtin (and as a fallback). */
/* Three different questions ending in '?', built from the question's
 * entities (then the answer's). Returns the count (3). */
int llm_rules_follow_ups(const char *question, const char *answer, char out[3][256]);
/* intent: factual | procedural | causal | comparison | definition | other.
 * entities: capitalised phrases, then significant terms; at most
 * min(5, max_entities), case-insensitively distinct. */
void llm_rules_analyze(const char *question, char *intent, size_t ilen, char entities[][128],
                       size_t max_entities, size_t *n_entities);

/* The model that answers: "builtin", the "model" the backend's stream
 * names (it may differ from the one asked for: an alias, a router or a
 * fallback behind the URL), else the one requested. Valid until the stream
 * is finished, so also inside on_done. */
const char *llm_stream_model(const llm_stream_t *s);

/* Extras. */
/* Streams currently alive (started and not yet finished/cancelled). */
size_t llm_active_streams(void);
/* "builtin", "openai" or "ollama": the backend llm_init configured. */
const char *llm_backend_name(void);

#endif
