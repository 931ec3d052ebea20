#include "worker/svc/rag.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol/json_msg.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/utf8.h"
#include "io/pg.h"
#include "worker/svc/llm.h"
#include "worker/svc/rag_tasks.h"
#include "worker/svc/store.h"
#include "worker/svc/svc.h"

#define RAG_MAX_ENTITIES RAG_ANALYSIS_MAX_ENTITIES
#define RAG_ANSWER_MAX   (16u << 20) /* bytes of one answer */

struct rag_job {
    rag_events_t ev;
    void *ud;
    struct rag_job *prev, *next;
    char *question, *collection, *mode, *model, *language, *conv_kind, *conv_ext;
    char *owner; /* JWT sub stored as the conversation's owner; NULL: none */
    int k;
    uint32_t max_tokens;
    double temperature;
    int include_history;
    uint64_t started_ns;
    int64_t conv_id, user_msg_id, asst_msg_id;
    db_req_t *pending;
    llm_stream_t *llm;
    llm_stream_t *analysis; /* the backend's query analysis, while it runs */
    loop_timer_t kick;
    PGresult *sources_res; /* kept: sources point into it */
    rag_source_t *src;
    size_t n_src;
    llm_message_t *history;
    size_t n_history;
    PGresult *history_res;
    buf_t answer; /* bounded by RAG_ANSWER_MAX */
    uint32_t tokens;
    char intent[32];
    char entities[RAG_MAX_ENTITIES][128];
    size_t n_entities;
    int paused;
    int storing_answer;   /* the complete answer's INSERT is queued */
    char key[40];         /* names this job's assistant row (metadata.job) */
    char model_used[128]; /* the model that answered ("" until known) */
    int depth;            /* inside one of our callbacks */
    int dead;             /* finished or cancelled: free when depth drops to 0 */
};

static rag_job_t *jobs;
static uint32_t n_jobs;

uint32_t rag_jobs_running(void) { return n_jobs; }

int rag_mode_valid(const char *mode)
{
    return mode && (strcmp(mode, "fast") == 0 || strcmp(mode, "balanced") == 0 ||
                    strcmp(mode, "comprehensive") == 0);
}

/* The copies of rag_params_t, and the job itself. */
static void free_params(rag_job_t *j)
{
    free(j->question);
    free(j->collection);
    free(j->mode);
    free(j->model);
    free(j->language);
    free(j->conv_kind);
    free(j->conv_ext);
    free(j->owner);
    free(j);
}

static void job_free(rag_job_t *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        jobs = j->next;
    if (j->next) j->next->prev = j->prev;
    n_jobs--;
    loop_timer_stop(svc->loop, &j->kick);
    PQclear(j->sources_res);
    PQclear(j->history_res);
    free(j->src);
    free(j->history);
    buf_free(&j->answer);
    free_params(j);
}

/* Run an event callback; a callback may cancel the job (e.g. its
 * connection closed while sending): then the job is freed here. Returns 1
 * when the job is still alive. */
#define EMIT(j, call)                                                                              \
    do {                                                                                           \
        (j)->depth++;                                                                              \
        call;                                                                                      \
        (j)->depth--;                                                                              \
    } while (0)

static const char *answer_text(const rag_job_t *j) { return j->answer.data ? j->answer.data : ""; }

static int alive(rag_job_t *j)
{
    if (!j->dead) return 1;
    if (!j->depth) job_free(j);
    return 0;
}

static void finish(rag_job_t *j)
{
    j->dead = 1;
    if (j->analysis) {
        llm_cancel(j->analysis);
        j->analysis = NULL;
    }
    if (j->llm) {
        llm_cancel(j->llm);
        j->llm = NULL;
    }
    if (j->pending) {
        db_detach(j->pending);
        j->pending = NULL;
    }
}

static void fail(rag_job_t *j, const char *code, const char *message, const char *stage)
{
    if (j->dead) return;
    stats_add(&svc->stats->errors, 1);
    if (strcmp(code, "STORAGE_UNAVAILABLE") == 0) stats_add(&svc->stats->storage_errors, 1);
    EMIT(j, j->ev.on_error(j->ud, code, message, stage));
    finish(j);
    alive(j);
}

static void status(rag_job_t *j, const char *stage, double progress, const char *msg)
{
    if (j->ev.on_status) EMIT(j, j->ev.on_status(j->ud, stage, progress, msg));
}

/* The model to report: the one that answered (which the backend's stream
 * may name differently from the one asked for), else the one asked for. */
static const char *answered_model(const rag_job_t *j)
{
    if (j->model_used[0]) return j->model_used;
    return j->llm ? llm_stream_model(j->llm) : j->model;
}

/* ---- steps ---- */

static void complete(rag_job_t *j)
{
    double secs = (double)(loop_clock_ns() - j->started_ns) / 1e9;
    stats_observe_query(svc->stats, (uint64_t)(secs * 1e6));
    const char *ents[RAG_MAX_ENTITIES];
    for (size_t i = 0; i < j->n_entities; i++) ents[i] = j->entities[i];
    rag_result_t r = {
        .total_time = secs,
        .tokens = j->tokens,
        .sources_used = (uint32_t)j->n_src,
        .mode = j->mode,
        .model = answered_model(j),
        .intent = j->intent,
        .entities = ents,
        .n_entities = j->n_entities,
        .answer = answer_text(j),
        .conversation_id = j->conv_id,
        .user_message_id = j->user_msg_id,
        .assistant_message_id = j->asst_msg_id,
    };
    EMIT(j, j->ev.on_complete(j->ud, &r));
    /* Nothing found: follow-ups built from "nothing was found" would be
     * nonsense, and they go to every listener. */
    if (j->n_src) rag_follow_ups(j->question, j->answer.data);
    finish(j);
    alive(j);
}

static char *answer_metadata(const rag_job_t *j, const char *extra_status)
{
    json_t *srcs = json_array();
    for (size_t i = 0; i < j->n_src; i++)
        json_array_append_new(srcs, json_pack("{s:I, s:I, s:s, s:f}", "chunk_id",
                                              (json_int_t)j->src[i].chunk_id, "document_id",
                                              (json_int_t)j->src[i].document_id, "filename",
                                              j->src[i].filename, "score", j->src[i].score));
    const char *model = answered_model(j);
    json_t *m =
        json_pack("{s:s, s:s, s:i, s:o, s:s, s:s}", "model", model, "mode", j->mode, "tokens",
                  (int)j->tokens, "sources", srcs, "collection", j->collection, "job", j->key);
    if (strcmp(model, j->model) != 0)
        json_object_set_new(m, "model_requested", json_string(j->model));
    if (extra_status) json_object_set_new(m, "reason", json_string(extra_status));
    char *s = json_msg_dump(m);
    json_decref(m);
    return s;
}

/* Store the assistant message; on_complete waits for its commit. */
static void answer_stored(void *ud, PGresult *res, const char *err)
{
    rag_job_t *j = ud;
    j->pending = NULL;
    if (!res) {
        fail(j, "STORAGE_UNAVAILABLE", "the answer could not be stored; please retry",
             "storing_answer");
        return;
    }
    j->asst_msg_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    complete(j);
}

static void store_answer(rag_job_t *j)
{
    if (!j->conv_kind) {
        complete(j);
        return;
    }
    char *meta = answer_metadata(j, NULL);
    j->pending = store_save_answer(j->conv_id, answer_text(j), "complete", meta, answer_stored, j);
    free(meta);
    j->storing_answer = j->pending != NULL;
    if (!j->pending)
        fail(j, "STORAGE_UNAVAILABLE", "the answer could not be stored; please retry",
             "storing_answer");
}

/* A job ended early: keep what was said, marked with why. */
static void store_partial(rag_job_t *j, const char *status_word)
{
    if (!j->conv_kind || !j->conv_id) return;
    char *meta = answer_metadata(j, status_word);
    if (!store_save_answer(j->conv_id, answer_text(j), status_word, meta, NULL, NULL))
        log_warn("%s answer of conversation %lld not stored: storage unavailable", status_word,
                 (long long)j->conv_id);
    free(meta);
}

static void on_llm_token(void *ud, const char *text, size_t len)
{
    rag_job_t *j = ud;
    if (j->dead) return;
    if (buf_append(&j->answer, text, len) < 0) return;
    uint32_t pos = j->tokens++;
    uint64_t arrived = loop_clock_ns();
    if (j->ev.on_token) EMIT(j, j->ev.on_token(j->ud, text, len, pos, arrived));
    alive(j);
}

static void on_llm_done(void *ud, uint32_t tokens)
{
    (void)tokens;
    rag_job_t *j = ud;
    snprintf(j->model_used, sizeof j->model_used, "%s", llm_stream_model(j->llm));
    j->llm = NULL; /* the library frees the stream after this callback */
    stats_add(&svc->stats->llm_streams, 1);
    if (j->dead) return;
    store_answer(j);
}

/* message names the backend's URL and libcurl's text: llm.c has logged
 * it; the client gets a fixed text. */
static void on_llm_error(void *ud, const char *code, const char *message)
{
    (void)message;
    rag_job_t *j = ud;
    snprintf(j->model_used, sizeof j->model_used, "%s", llm_stream_model(j->llm));
    j->llm = NULL;
    stats_add(&svc->stats->llm_errors, 1);
    if (j->dead) return;
    store_partial(j, "error");
    fail(j, code, "the language model is unavailable; retry shortly", "generating_response");
}

static void generate(rag_job_t *j)
{
    status(j, "generating_response", 0.5, "Generating the answer...");
    if (!alive(j)) return;
    /* Prompt: instructions and numbered passages, history, the question. */
    size_t cap = 1024 + strlen(j->question);
    for (size_t i = 0; i < j->n_src; i++) cap += strlen(j->src[i].content) + 64;
    char *sys = malloc(cap);
    llm_passage_t *ps = calloc(j->n_src ? j->n_src : 1, sizeof *ps);
    llm_message_t *msgs = calloc(j->n_history + 2, sizeof *msgs);
    if (!sys || !ps || !msgs) {
        free(sys);
        free(ps);
        free(msgs);
        fail(j, "INTERNAL_ERROR", "out of memory", "generating_response");
        return;
    }
    size_t n = (size_t)snprintf(sys, cap,
                                "You answer questions using only the numbered context passages "
                                "below. Cite passages as [n]. If they do not contain the answer, "
                                "say so.%s%s\n",
                                j->language ? " Answer in language: " : "",
                                j->language ? j->language : "");
    for (size_t i = 0; i < j->n_src && n < cap; i++) {
        n += (size_t)snprintf(sys + n, cap - n, "\n[%zu] (%s) %s\n", i + 1, j->src[i].filename,
                              j->src[i].content);
        ps[i] = (llm_passage_t){j->src[i].filename, j->src[i].content, j->src[i].score};
    }
    size_t m = 0;
    msgs[m++] = (llm_message_t){"system", sys};
    for (size_t i = 0; i < j->n_history; i++) msgs[m++] = j->history[i];
    msgs[m++] = (llm_message_t){"user", j->question};
    llm_request_t req = {
        .messages = msgs,
        .n_messages = m,
        .question = j->question,
        .passages = ps,
        .n_passages = j->n_src,
        .model = j->model,
        .temperature = j->temperature,
        .max_tokens = j->max_tokens,
    };
    static const llm_callbacks_t cbs = {on_llm_token, on_llm_done, on_llm_error};
    j->llm = llm_start(&req, &cbs, j);
    free(sys);
    free(ps);
    free(msgs);
    if (!j->llm) {
        fail(j, "LLM_UNAVAILABLE", "the language model could not be started",
             "generating_response");
        return;
    }
    if (j->paused) llm_pause(j->llm);
}

static void retrieved(void *ud, PGresult *res, const char *err)
{
    rag_job_t *j = ud;
    j->pending = NULL;
    if (!res) {
        fail(j, "STORAGE_UNAVAILABLE", err ? err : "storage unavailable", "document_retrieval");
        return;
    }
    int rows = PQntuples(res);
    if (rows == 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "collection \"%.100s\" does not exist", j->collection);
        fail(j, "COLLECTION_NOT_FOUND", msg, "document_retrieval");
        return;
    }
    /* Keep the result: the sources point into it. */
    j->sources_res = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
    res = j->sources_res;
    j->src = calloc((size_t)rows, sizeof *j->src);
    if (!res || !j->src) {
        fail(j, "INTERNAL_ERROR", "out of memory", "document_retrieval");
        return;
    }
    for (int r = 0; r < rows; r++) {
        if (PQgetisnull(res, r, 0)) continue; /* the collection exists, nothing matched */
        rag_source_t *s = &j->src[j->n_src++];
        s->chunk_id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        s->document_id = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        s->filename = PQgetvalue(res, r, 2);
        s->page = PQgetisnull(res, r, 3) ? 0 : atoi(PQgetvalue(res, r, 3));
        s->score = strtod(PQgetvalue(res, r, 4), NULL);
        s->snippet = PQgetvalue(res, r, 5);
        s->content = PQgetvalue(res, r, 6);
    }
    if (j->ev.on_sources) EMIT(j, j->ev.on_sources(j->ud, j->src, j->n_src));
    if (!alive(j)) return;
    generate(j);
}

static void retrieve(rag_job_t *j)
{
    status(j, "retrieving_documents", 0.3, "Searching the collection...");
    if (!alive(j)) return;
    j->pending = store_retrieve(j->collection, j->question, j->k, retrieved, j);
    if (!j->pending)
        fail(j, "STORAGE_UNAVAILABLE", "PostgreSQL is unavailable; retry shortly",
             "document_retrieval");
}

static void history_loaded(void *ud, PGresult *res, const char *err)
{
    rag_job_t *j = ud;
    j->pending = NULL;
    (void)err;
    if (res && PQntuples(res)) {
        j->history_res = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
        int rows = PQntuples(res);
        j->history = calloc((size_t)rows, sizeof *j->history);
        if (j->history_res && j->history)
            for (int r = 0; r < rows && r < STORE_HISTORY_MAX; r++)
                j->history[j->n_history++] = (llm_message_t){PQgetvalue(j->history_res, r, 0),
                                                             PQgetvalue(j->history_res, r, 1)};
    }
    retrieve(j);
}

/* The backend's analysis, when it answers before the job completes,
 * replaces the rules' one. */
static void analysis_done(void *ud, const char *text, const char *error)
{
    rag_job_t *j = ud;
    j->analysis = NULL;
    if (error || !text) return;
    rag_analysis_parse(text, j->intent, sizeof j->intent, j->entities, RAG_MAX_ENTITIES,
                       &j->n_entities);
}

static void analyze(rag_job_t *j)
{
    status(j, "analyzing_query", 0.1, "Analyzing query intent...");
    if (!alive(j)) return;
    char ents[RAG_MAX_ENTITIES][128];
    llm_rules_analyze(j->question, j->intent, sizeof j->intent, ents, RAG_MAX_ENTITIES,
                      &j->n_entities);
    for (size_t i = 0; i < j->n_entities; i++) memcpy(j->entities[i], ents[i], sizeof ents[i]);
    /* With a real model, ask it too, in parallel with retrieval and
     * generation; the rules stand if it is late or unusable. */
    if (svc->cfg->llm_backend != LLM_BUILTIN && svc->cfg->llm_analysis_backend)
        j->analysis = rag_analysis_start(j->question, analysis_done, j);
    if (j->include_history && j->conv_id) {
        j->pending = store_history(j->conv_id, j->user_msg_id, history_loaded, j);
        if (j->pending) return;
    }
    retrieve(j);
}

static void user_stored(void *ud, PGresult *res, const char *err)
{
    rag_job_t *j = ud;
    j->pending = NULL;
    if (!res) {
        fail(j, "STORAGE_UNAVAILABLE",
             err && strcmp(err, DB_ERR_STOPPING) == 0
                 ? "server stopping"
                 : "PostgreSQL is unavailable; the message was not stored, retry shortly",
             "storing_message");
        return;
    }
    if (PQntuples(res) == 0) {
        /* The conversation exists with another owner: never continue it. */
        fail(j, "FORBIDDEN", "this conversation belongs to another user", "storing_message");
        return;
    }
    j->conv_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    j->user_msg_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    if (j->ev.on_stored) EMIT(j, j->ev.on_stored(j->ud, j->conv_id, j->user_msg_id));
    if (!alive(j)) return;
    analyze(j);
}

static void kick(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    rag_job_t *j = t->data;
    if (svc->draining &&
        *svc->draining) { /* one place for every endpoint: the drain takes no new question */
        fail(j, "SHUTTING_DOWN", "server is restarting; ask again on a new connection", "queued");
        return;
    }
    if (!j->conv_kind) {
        analyze(j);
        return;
    }
    json_t *meta = json_pack("{s:s, s:s}", "collection", j->collection, "mode", j->mode);
    char *m = json_msg_dump(meta);
    json_decref(meta);
    j->pending =
        store_insert_question(j->conv_kind, j->conv_ext, j->question, m, j->owner, user_stored, j);
    free(m);
    if (!j->pending)
        fail(j, "STORAGE_UNAVAILABLE",
             "PostgreSQL is unavailable; the message was not stored, retry shortly",
             "storing_message");
}

static char *dup_or(const char *s, const char *fallback) { return strdup(s ? s : fallback); }

rag_job_t *rag_start(const rag_params_t *p, const rag_events_t *ev, void *ud)
{
    const ragws_config_t *cfg = svc->cfg;
    rag_job_t *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->ev = *ev;
    j->ud = ud;
    j->answer.max = RAG_ANSWER_MAX;
    j->question = strdup(p->question);
    j->collection = dup_or(p->collection, cfg->default_collection);
    j->mode = dup_or(p->mode, "balanced");
    j->model = dup_or(p->model, cfg->llm_backend == LLM_BUILTIN ? "builtin" : cfg->llm_model);
    j->language = p->language ? strdup(p->language) : NULL;
    if (p->conv_kind) {
        j->conv_kind = strdup(p->conv_kind);
        j->conv_ext = strdup(p->conv_external_id ? p->conv_external_id : "");
        if (p->owner && p->owner[0] && !(j->owner = strdup(p->owner))) {
            free_params(j);
            return NULL;
        }
    }
    if (!j->question || !j->collection || !j->mode || !j->model ||
        (p->conv_kind && (!j->conv_kind || !j->conv_ext))) {
        free_params(j);
        return NULL;
    }
    int maxr = p->max_results > 0 ? p->max_results : 10;
    uint32_t budget = cfg->llm_max_tokens;
    if (strcmp(j->mode, "fast") == 0) {
        j->k = maxr < 3 ? maxr : 3;
        budget /= 4;
    } else if (strcmp(j->mode, "comprehensive") == 0) {
        j->k = maxr;
    } else {
        j->k = maxr < 5 ? maxr : 5;
        budget /= 2;
    }
    j->max_tokens = budget ? budget : 1;
    j->temperature = p->temperature;
    j->include_history = p->include_history;
    j->started_ns = loop_clock_ns();
    static uint64_t job_counter;
    snprintf(j->key, sizeof j->key, "%d-%d-%llu", svc->slot_idx, (int)getpid(),
             (unsigned long long)++job_counter);
    snprintf(j->intent, sizeof j->intent, "other");
    j->next = jobs;
    if (jobs) jobs->prev = j;
    jobs = j;
    n_jobs++;
    /* Events never fire from inside rag_start. */
    loop_timer_start(svc->loop, &j->kick, 0, kick, j);
    return j;
}

void rag_pause(rag_job_t *j)
{
    if (j->dead || j->paused) return;
    j->paused = 1;
    if (j->llm) llm_pause(j->llm);
}

void rag_resume(rag_job_t *j)
{
    if (j->dead || !j->paused) return;
    j->paused = 0;
    if (j->llm) llm_resume(j->llm);
}

void rag_cancel(rag_job_t *j)
{
    if (j->dead) return;
    /* Once the whole answer is on its way to the database it is stored as
     * complete; a second, cancelled copy would duplicate it. */
    if (!j->storing_answer) {
        store_partial(j, "cancelled");
    } else if (j->conv_id) {
        if (!store_mark_cancelled(j->conv_id, j->key, NULL, NULL))
            log_warn("answer of conversation %lld stored as complete: cancel not recorded",
                     (long long)j->conv_id);
    }
    finish(j);
    alive(j);
}

void rag_cancel_handle(void *job) { rag_cancel(job); }
