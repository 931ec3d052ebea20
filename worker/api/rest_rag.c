/* REST twins of the RAG endpoints (SPEC S8): POST /api/query, collections
 * and conversation history. Answers are asynchronous (http_begin_async):
 * they come from the database or a rag job, never by blocking the loop.
 * JSON for listings is built by PostgreSQL itself (worker/svc/store.c),
 * so the rows go to the client without a second encoding here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ids.h"
#include "protocol/json_msg.h"
#include "protocol/query.h"
#include "io/pg.h"
#include "worker/net/http.h"
#include "worker/svc/rag.h"
#include "worker/svc/store.h"
#include "worker/api/rest_rag.h"

/* ---- database-backed GETs ---- */

typedef struct db_get {
    conn_t *c;             /* NULL once the client went away */
    const char *not_found; /* message when the query returns NULL */
} db_get_t;

static void db_get_abort(conn_t *c, void *data)
{
    (void)c;
    ((db_get_t *)data)->c = NULL;
}

static void db_get_done(void *ud, PGresult *res, const char *err)
{
    db_get_t *g = ud;
    conn_t *c = g->c;
    if (!c) {
        free(g);
        return;
    }
    if (!res) {
        http_respond_error(c, 503, "STORAGE_UNAVAILABLE", err ? err : "storage unavailable");
    } else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        http_respond_error(c, 404, "NOT_FOUND", g->not_found);
    } else {
        const char *json = PQgetvalue(res, 0, 0);
        http_respond(c, 200, "application/json", json, strlen(json), NULL);
    }
    free(g);
    http_end_async(c);
}

/* A GET answered by one JSON text from the store: begin, then hand the
 * store's request to db_get_sent. */
static db_get_t *db_get_begin(conn_t *c, const http_request_t *req, const char *not_found)
{
    db_get_t *g = calloc(1, sizeof *g);
    if (!g) {
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        return NULL;
    }
    g->c = c;
    g->not_found = not_found;
    /* Pending first: from then on a close of c clears g->c (db_get_abort),
     * whenever the result comes. */
    if (!http_begin_async(c, req, db_get_abort, g)) {
        free(g);
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        return NULL;
    }
    return g;
}

static void db_get_sent(conn_t *c, db_get_t *g, db_req_t *sent)
{
    if (!sent) {
        free(g);
        http_respond_error(c, 503, "STORAGE_UNAVAILABLE",
                           "PostgreSQL is unavailable; retry shortly");
        http_end_async(c);
    }
}

/* ---- POST /api/query ---- */

typedef struct rest_query {
    conn_t *c; /* NULL once the client went away */
    int include_sources;
    rag_job_t *job;
    json_t *citations;
} rest_query_t;

static void rq_abort(conn_t *c, void *data)
{
    (void)c;
    rest_query_t *q = data;
    q->c = NULL;
    if (q->job) rag_cancel(q->job);
    json_decref(q->citations);
    free(q);
}

static void rq_sources(void *ud, const rag_source_t *src, size_t n)
{
    rest_query_t *q = ud;
    for (size_t i = 0; q->include_sources && i < n; i++) {
        json_t *o = json_pack("{s:i, s:s, s:f, s:s, s:I}", "citation_id", (int)i + 1, "source",
                              src[i].filename, "confidence", src[i].score, "content",
                              src[i].snippet, "document_id", (json_int_t)src[i].document_id);
        json_object_set_new(o, "page", src[i].page ? json_integer(src[i].page) : json_null());
        json_array_append_new(q->citations, o);
    }
}

static void rq_finish(rest_query_t *q)
{
    conn_t *c = q->c;
    json_decref(q->citations);
    free(q);
    http_end_async(c);
}

static void rq_complete(void *ud, const rag_result_t *r)
{
    rest_query_t *q = ud;
    q->job = NULL;
    json_t *ents = json_array();
    for (size_t i = 0; i < r->n_entities; i++)
        json_array_append_new(ents, json_msg_text(r->entities[i]));
    json_t *o = json_pack("{s:o, s:O, s:{s:o, s:o}, s:f, s:i, s:i, s:s, s:s, s:I}", "answer",
                          json_msg_text(r->answer), "citations", q->citations, "query_analysis",
                          "intent", json_msg_text(r->intent), "entities", ents, "total_time",
                          r->total_time, "tokens_generated", (int)r->tokens, "sources_used",
                          (int)r->sources_used, "processing_mode", r->mode, "model", r->model,
                          "conversation_id", (json_int_t)r->conversation_id);
    char *s = json_msg_dump_free(o);
    if (s)
        http_respond(q->c, 200, "application/json", s, strlen(s), NULL);
    else
        http_respond_error(q->c, 500, "INTERNAL_ERROR", "the answer could not be encoded");
    free(s);
    rq_finish(q);
}

static void rq_error(void *ud, const char *code, const char *message, const char *stage)
{
    (void)stage;
    rest_query_t *q = ud;
    q->job = NULL;
    int status = strcmp(code, "COLLECTION_NOT_FOUND") == 0 ? 404 : 503;
    http_respond_error(q->c, status, code, message);
    rq_finish(q);
}

static const rag_events_t rq_events = {
    .on_sources = rq_sources,
    .on_complete = rq_complete,
    .on_error = rq_error,
};

static void post_query(conn_t *c, const http_request_t *req, const char *body, size_t len,
                       const char *owner)
{
    query_msg_t m;
    const char *code;
    char err[256];
    if (query_parse_data(body, len, &m, &code, err, sizeof err) < 0) {
        http_respond_error(c, 400, code, err);
        query_msg_free(&m);
        return;
    }
    rest_query_t *q = calloc(1, sizeof *q);
    char ext[40] = "rest-";
    ids_random_hex(ext + 5, 8);
    /* Pending before the job exists, so that any answer of the job (even
     * one that came at once) finds the connection's pending state. */
    if (q && !http_begin_async(c, req, rq_abort, q)) {
        free(q);
        q = NULL;
    }
    if (q) {
        q->c = c;
        q->include_sources = m.include_sources;
        q->citations = json_array();
        rag_params_t p = {
            .question = m.query,
            .collection = m.collection[0] ? m.collection : NULL,
            .max_results = m.max_results,
            .mode = m.mode,
            .temperature = -1,
            .conv_kind = "rest",
            .conv_external_id = ext,
            .owner = owner,
        };
        q->job = rag_start(&p, &rq_events, q);
    }
    query_msg_free(&m);
    if (!q) {
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
    } else if (!q->job) {
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        rq_finish(q);
    }
}

/* ---- handlers of the route table ---- */

static int segment_ok(const char *s, size_t len)
{
    if (!len || len > 128) return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '/' || s[i] == '%' || (unsigned char)s[i] < 0x21) return 0;
    return 1;
}

/* The route parameter `name` when it is a valid segment, else 400. */
static int seg_param(conn_t *c, const route_params_t *params, const char *name, char seg[129],
                     const char *what)
{
    int n = route_param(params, name, seg, 129);
    if (n > 0 && segment_ok(seg, (size_t)n)) return 1;
    http_respond_error(c, 400, "VALIDATION_ERROR", what);
    return 0;
}

int rest_segment_param(conn_t *c, const route_params_t *params, const char *name, char seg[129],
                       const char *what)
{
    return seg_param(c, params, name, seg, what);
}

void rest_post_query(conn_t *c, const http_request_t *req, const route_params_t *params,
                     const char *body, size_t len)
{
    post_query(c, req, body, len, params->owner);
}

void rest_get_collections(conn_t *c, const http_request_t *req, const route_params_t *params,
                          const char *body, size_t len)
{
    db_get_t *g = db_get_begin(c, req, "no collections");
    if (g) db_get_sent(c, g, store_collections(db_get_done, g));
}

void rest_get_collection(conn_t *c, const http_request_t *req, const route_params_t *params,
                         const char *body, size_t len)
{
    char seg[129];
    if (!seg_param(c, params, "name", seg, "bad collection name")) return;
    db_get_t *g = db_get_begin(c, req, "no such collection");
    if (g) db_get_sent(c, g, store_collection(seg, db_get_done, g));
}

void rest_get_messages(conn_t *c, const http_request_t *req, const route_params_t *params,
                       const char *body, size_t len)
{
    char seg[129];
    if (!seg_param(c, params, "id", seg, "bad conversation id")) return;
    db_get_t *g = db_get_begin(c, req, "no such conversation");
    if (g) db_get_sent(c, g, store_conversation_messages(seg, params->owner, db_get_done, g));
}
