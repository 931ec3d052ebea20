/* The conversation assistant's session service (seed 003), shared by
 * /ws/conversation and its REST twins. A session lives in PostgreSQL
 * (worker/svc/store_conv.h), so any worker serves it, also after a
 * restart. Processing one input:
 *
 *   1. the input is stored (committed before anything is answered);
 *   2. the session's history is read (conversation.history_max inputs);
 *   3. the analysis: llm.backend = builtin -> the rules (conv_rules.h);
 *      openai / ollama -> the model is asked for a JSON object (JSON
 *      mode), validated; the rules answer when it is invalid or the
 *      backend fails;
 *   4. the suggestion is stored, published on ring channel
 *      "conversation:<session_id>" (every connection of the session, on
 *      any worker, receives it), and a strong objection queues the
 *      webhook event critical_objection (worker/svc/webhook.h).
 *
 * With stream, on_token gets the text as it is produced before on_done
 * (the builtin streams the direction word by word; a model its JSON).
 * A failure after the input was stored (history unreadable) ends as the
 * default suggestion (not published); one before (storage unavailable,
 * another owner's session) as on_error.
 *
 * Lifetimes. conv_process copies its parameters. Callbacks come from the
 * loop, never from inside conv_process. conv_detach: the caller goes away;
 * the job still completes (stored, published, webhook) without callbacks.
 * conv_shutdown frees what is left at worker exit. */
#ifndef RAGWS_WORKER_SVC_CONVERSATION_H
#define RAGWS_WORKER_SVC_CONVERSATION_H

#include <stddef.h>

#include "protocol/conversation.h"

typedef struct conv_job conv_job_t;

typedef struct conv_events {
    void (*on_token)(void *ud, const char *content, const char *full_text);
    /* json: the encoded suggestion; published: the ring carried it to the
     * session's connections (a producer subscribed to the channel gets it
     * from there, once); is_default: the processing-error suggestion. */
    void (*on_done)(void *ud, const conv_suggestion_t *s, const char *json, int published,
                    int is_default);
    /* error: "storage_unavailable" | "forbidden" | "internal_error" */
    void (*on_error)(void *ud, const char *error, const char *code, const char *details);
} conv_events_t;

typedef struct conv_params {
    const char *session_id;
    const char *owner; /* JWT sub, NULL: none */
    const conv_input_t *input;
    int stream;
} conv_params_t;

conv_job_t *conv_process(const conv_params_t *p, const conv_events_t *ev, void *ud);
void conv_detach(conv_job_t *j);
void conv_shutdown(void);

/* "conversation:<session_id>" into out (its length, -1: does not fit). */
int conv_channel(char *out, size_t cap, const char *session_id);

#endif
