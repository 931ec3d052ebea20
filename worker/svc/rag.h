/* The RAG answer pipeline shared by every endpoint (SPEC S6):
 *
 *   store the user message (acknowledged only after its commit)
 *   -> analyze the query -> retrieve passages (PostgreSQL full-text search)
 *   -> generate (LLM stream) -> store the assistant message -> complete
 *   -> follow-up questions broadcast on APIV1_CHANNEL (S4.1, rag_tasks.c).
 *
 * A job reports through events; after on_complete or on_error it frees
 * itself. rag_cancel() ends it early (the partial answer is stored as
 * cancelled) and no event follows. Every step runs on the worker loop. */
#ifndef RAGWS_WORKER_RAG_H
#define RAGWS_WORKER_RAG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rag_job rag_job_t;

typedef struct rag_source {
    int64_t chunk_id;
    int64_t document_id;
    const char *filename;
    int page;            /* 0 when the document has no pages */
    double score;        /* 0..1 */
    const char *snippet; /* ts_headline excerpt */
    const char *content; /* the whole chunk */
} rag_source_t;

typedef struct rag_params {
    const char *question;
    const char *collection; /* NULL: rag.default_collection */
    int max_results;        /* 1..50 */
    const char *mode;       /* fast | balanced | comprehensive; NULL = balanced */
    double temperature;     /* < 0: llm.temperature */
    const char *model;      /* NULL: llm.model */
    const char *language;   /* NULL: not specified */
    /* Persistence: conversation (kind, external id); kind NULL = none. */
    const char *conv_kind;
    const char *conv_external_id;
    /* Owner (JWT sub) stored with a new conversation; an existing one is
     * continued only by the same owner (else error FORBIDDEN). NULL or "":
     * none. */
    const char *owner;
    int include_history;
} rag_params_t;

typedef struct rag_result {
    double total_time; /* seconds */
    uint32_t tokens;
    uint32_t sources_used;
    const char *mode;
    const char *model;
    const char *intent;
    const char *const *entities;
    size_t n_entities;
    const char *answer;
    int64_t conversation_id;
    int64_t user_message_id;
    int64_t assistant_message_id;
} rag_result_t;

typedef struct rag_events {
    /* The user message is committed (not called without persistence). */
    void (*on_stored)(void *ud, int64_t conversation_id, int64_t message_id);
    void (*on_status)(void *ud, const char *stage, double progress, const char *message);
    void (*on_sources)(void *ud, const rag_source_t *sources, size_t n);
    /* arrived_ns: when the token came from the LLM (loop_clock_ns), for the
     * token-latency figures of the frame that carries it. */
    void (*on_token)(void *ud, const char *text, size_t len, uint32_t position,
                     uint64_t arrived_ns);
    void (*on_complete)(void *ud, const rag_result_t *r);
    void (*on_error)(void *ud, const char *code, const char *message, const char *stage);
} rag_events_t;

/* Modes: how many passages and how many tokens. */
int rag_mode_valid(const char *mode);

/* Starts a job; its events come later from the loop, never from inside
 * rag_start. Returns NULL only when out of memory. */
rag_job_t *rag_start(const rag_params_t *p, const rag_events_t *ev, void *ud);
void rag_pause(rag_job_t *j);
void rag_resume(rag_job_t *j);
/* Stop now; store the partial answer as cancelled; no more events. */
void rag_cancel(rag_job_t *j);
/* rag_cancel for a job list's `cancel` (worker/svc/jobs.h). */
void rag_cancel_handle(void *job);

/* Jobs running in this worker (the drain waits for them). */
uint32_t rag_jobs_running(void);

#endif
