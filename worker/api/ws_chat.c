/* /chat/ws (SPEC S4.3, seed 001): streaming chat. Answers are numbered
 * bot_1, bot_2 ... per connection; both sides of the conversation are
 * stored, and reactions to an answer too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ids.h"
#include "protocol/chat.h"
#include "io/pg.h"
#include "worker/net/route.h"
#include "worker/svc/jobs.h"
#include "worker/svc/rag.h"
#include "worker/svc/store.h"
#include "worker/net/net.h"
#include "worker/net/ws.h"

#define CHAT_REMEMBER 64 /* bot_N -> stored message id, most recent answers */

typedef struct chat_session chat_session_t;

typedef struct chat_job {
    job_t j; /* first: the list's record is this one */
    chat_session_t *s;
    char bot_id[24];
} chat_job_t;

struct chat_session {
    conn_t *c;
    uint32_t next_bot;
    char conv_ext[65];
    jobs_t jobs;
    struct {
        uint32_t bot;
        int64_t msg_id;
    } answers[CHAT_REMEMBER];
    struct reaction_req *reaction_reqs[8];
};

#define ERR_UNKNOWN_MESSAGE "UNKNOWN_MESSAGE_ID"
#define UNKNOWN_MESSAGE_TEXT                                                                       \
    "no answer with this message_id on this connection (bot_N of a completed answer)"

static void chat_send_error_id(conn_t *c, const char *code, const char *message, const char *id)
{
    stats_add(&net->stats->errors, 1);
    ws_send_owned(c, chat_error(message, id, code));
}

static void chat_send_error(conn_t *c, const char *code, const char *message)
{
    chat_send_error_id(c, code, message, NULL);
}

static void release_job(job_t *j) { free(j); }

static void ev_token(void *ud, const char *text, size_t len, uint32_t position, uint64_t arrived_ns)
{
    (void)position;
    chat_job_t *j = ud;
    ws_send_owned_at(j->s->c, chat_chunk(j->bot_id, text, len), arrived_ns);
}

static void ev_complete(void *ud, const rag_result_t *r)
{
    chat_job_t *j = ud;
    chat_session_t *s = j->s;
    uint32_t bot = (uint32_t)strtoul(j->bot_id + 4, NULL, 10);
    s->answers[bot % CHAT_REMEMBER].bot = bot;
    s->answers[bot % CHAT_REMEMBER].msg_id = r->assistant_message_id;
    ws_send_owned(s->c, chat_complete(j->bot_id, s->conv_ext));
    jobs_done(&j->j);
}

static void ev_error(void *ud, const char *code, const char *message, const char *stage)
{
    (void)stage;
    chat_job_t *j = ud;
    ws_send_owned(j->s->c, chat_error(message, j->bot_id, code));
    jobs_done(&j->j);
}

static const rag_events_t chat_events = {
    .on_token = ev_token,
    .on_complete = ev_complete,
    .on_error = ev_error,
};

static void ask(chat_session_t *s, const chat_msg_t *m)
{
    if (!jobs_room(&s->jobs)) {
        chat_send_error(s->c, "TOO_MANY_REQUESTS", "wait for the current answers to complete");
        return;
    }
    if (m->conversation_id[0]) snprintf(s->conv_ext, sizeof s->conv_ext, "%s", m->conversation_id);
    chat_job_t *j = calloc(1, sizeof *j);
    if (!j) return;
    j->s = s;
    snprintf(j->bot_id, sizeof j->bot_id, "bot_%u", ++s->next_bot);
    rag_params_t p = {
        .question = m->message,
        .max_results = 5,
        .mode = "balanced",
        .temperature = -1,
        .conv_kind = "chat",
        .conv_external_id = s->conv_ext,
        .owner = s->c->sub,
        .include_history = 1,
    };
    rag_job_t *job = rag_start(&p, &chat_events, j);
    if (!job) {
        free(j);
        chat_send_error(s->c, "INTERNAL_ERROR", "out of memory");
        return;
    }
    jobs_add(&s->jobs, &j->j, job);
}

typedef struct reaction_req {
    chat_session_t *s; /* NULL once the connection closed */
    int slot;
    char bot_id[32];
    char reaction[65];
} reaction_req_t;

static void reaction_stored(void *ud, PGresult *res, const char *err)
{
    (void)err;
    reaction_req_t *r = ud;
    if (!r->s) { /* stored, but nobody is left to tell */
        free(r);
        return;
    }
    r->s->reaction_reqs[r->slot] = NULL;
    if (res && PQntuples(res) == 1)
        ws_send_owned(r->s->c, chat_reaction_saved(r->bot_id, r->reaction));
    else if (res)
        chat_send_error_id(r->s->c, ERR_UNKNOWN_MESSAGE, UNKNOWN_MESSAGE_TEXT, r->bot_id);
    else
        chat_send_error_id(r->s->c, "STORAGE_UNAVAILABLE",
                           "the reaction could not be stored; retry shortly", r->bot_id);
    free(r);
}

static void react(chat_session_t *s, const chat_msg_t *m)
{
    int slot = -1;
    for (int i = 0; i < 8; i++)
        if (!s->reaction_reqs[i]) slot = i;
    if (slot < 0) {
        chat_send_error(s->c, "TOO_MANY_REQUESTS", "too many reactions in flight");
        return;
    }
    /* Only an answer completed on this connection has a stored id. */
    int64_t msg_id = 0;
    if (strncmp(m->message_id, "bot_", 4) == 0) {
        uint32_t bot = (uint32_t)strtoul(m->message_id + 4, NULL, 10);
        if (s->answers[bot % CHAT_REMEMBER].bot == bot && bot)
            msg_id = s->answers[bot % CHAT_REMEMBER].msg_id;
    }
    if (!msg_id) {
        chat_send_error_id(s->c, ERR_UNKNOWN_MESSAGE, UNKNOWN_MESSAGE_TEXT, m->message_id);
        return;
    }
    reaction_req_t *r = calloc(1, sizeof *r);
    if (!r) return;
    r->s = s;
    r->slot = slot;
    snprintf(r->bot_id, sizeof r->bot_id, "%s", m->message_id);
    snprintf(r->reaction, sizeof r->reaction, "%s", m->reaction);
    if (store_reaction(msg_id, m->message_id, m->reaction, reaction_stored, r)) {
        s->reaction_reqs[slot] = r;
    } else {
        free(r);
        chat_send_error(s->c, "STORAGE_UNAVAILABLE",
                        "the reaction could not be stored; retry shortly");
    }
}

static void chat_on_open(conn_t *c, void *open_arg)
{
    (void)open_arg;
    chat_session_t *s = calloc(1, sizeof *s);
    if (!s) {
        ws_close(c, 1011, "out of memory");
        return;
    }
    s->c = c;
    jobs_init(&s->jobs, s, net->cfg->max_inflight_per_connection, rag_cancel_handle, release_job);
    ids_uuid4(s->conv_ext);
    c->ep_data = s;
}

static void chat_on_text(conn_t *c, const char *data, size_t len)
{
    chat_session_t *s = c->ep_data;
    chat_msg_t m;
    const char *code;
    char err[256];
    if (chat_msg_parse(data, len, &m, &code, err, sizeof err) < 0) {
        chat_send_error(c, code, err);
    } else if (m.kind == CHAT_REACTION) {
        react(s, &m);
    } else {
        ask(s, &m);
    }
    chat_msg_free(&m);
}

static void chat_on_close(conn_t *c)
{
    chat_session_t *s = c->ep_data;
    if (!s) return;
    jobs_cancel_all(&s->jobs);
    for (int i = 0; i < 8; i++)
        if (s->reaction_reqs[i]) s->reaction_reqs[i]->s = NULL;
    free(s);
    c->ep_data = NULL;
}

const endpoint_t ep_chat = {
    .path = "/chat/ws",
    .on_open = chat_on_open,
    .on_text = chat_on_text,
    .on_close = chat_on_close,
    .send_error = chat_send_error,
};
