#include "io/pg.h"

#include "base/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define DB_QUEUE_MAX      4096
#define DB_BACKOFF_MIN_MS 100

struct db_req {
    struct db_req *next;
    const char *sql;
    int nparams;
    char **values; /* copies, in one allocation with the pointer array */
    db_result_cb cb;
    void *ud;
};

enum db_state { DB_DOWN, DB_CONNECTING, DB_READY };

static struct {
    loop_t *loop;
    const ragws_config_t *cfg;
    void (*on_available)(int ok);
    char *conninfo;
    char *options; /* the conninfo's options plus our statement_timeout */
    PGconn *pg;
    enum db_state state;
    loop_watch_t watch;
    int watched_fd;
    loop_timer_t reconnect_timer, query_timer;
    uint64_t backoff_ms;
    db_req_t *head, *tail; /* head is in flight when `sent` */
    int sent;
    PGresult *result; /* first result of the query in flight */
    uint32_t queued;
    int stopping;
    /* A send failed inside db_exec: the queue is failed from the loop
     * (lost_timer), never inside db_exec, whose caller has not yet stored
     * the request it is given back. */
    int broken;
    char broken_why[512];
    loop_timer_t lost_timer;
} db;

static void db_io(loop_t *loop, loop_watch_t *w, uint32_t events);
static void connect_start(loop_t *loop, loop_timer_t *t);

static void set_available(int ok)
{
    if (db.on_available) db.on_available(ok);
}

int db_available(void) { return db.state == DB_READY && !db.broken; }

static void unwatch(void)
{
    if (db.watched_fd >= 0) {
        loop_watch_del(db.loop, &db.watch);
        db.watched_fd = -1;
    }
}

static void watch_fd(int fd, uint32_t events)
{
    if (fd != db.watched_fd) {
        unwatch();
        if (loop_watch_add(db.loop, &db.watch, fd, events, db_io, NULL) == 0) db.watched_fd = fd;
        return;
    }
    db.watch.cb = db_io; /* loop_watch_del may have cleared it */
    loop_watch_mod(db.loop, &db.watch, events);
}

static void req_free(db_req_t *r)
{
    free(r->values);
    free(r);
}

/* libpq's texts end with a newline and may hold several lines: copy one
 * into buf on one line (the caller may free the connection right after). */
static const char *one_line(char *buf, size_t len, const char *text)
{
    text_one_line(buf, len, text && *text ? text : "unknown error");
    return buf;
}

/* The server's notices (WARNING ...) go to our log, not raw to stderr. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    char buf[512];
    log_debug("PostgreSQL notice: %s", one_line(buf, sizeof buf, message));
}

static void complete_head(PGresult *res, const char *err)
{
    db_req_t *r = db.head;
    db.head = r->next;
    if (!db.head) db.tail = NULL;
    db.sent = 0;
    db.queued--;
    loop_timer_stop(db.loop, &db.query_timer);
    if (r->cb) r->cb(r->ud, res, err);
    req_free(r);
}

/* Connection lost: every query waiting fails (none was acknowledged as
 * done, so callers report STORAGE_UNAVAILABLE), then reconnect. `detail`
 * may point into the connection's own buffer (PQerrorMessage): it is
 * copied before the connection is freed, and only logged; callbacks get
 * `client_err`, a fixed text safe to show to clients. The queue is taken
 * off before any callback runs, so a callback that calls db_exec (refused:
 * we are down) or db_stop finds a consistent, empty state. */
static void connection_lost(const char *detail, const char *client_err)
{
    char why[512];
    one_line(why, sizeof why, detail);
    if (db.state == DB_READY && !db.stopping) log_warn("PostgreSQL connection lost: %s", why);
    db.broken = 0;
    loop_timer_stop(db.loop, &db.lost_timer);
    unwatch();
    loop_timer_stop(db.loop, &db.query_timer);
    if (db.result) {
        PQclear(db.result);
        db.result = NULL;
    }
    if (db.pg) {
        PQfinish(db.pg);
        db.pg = NULL;
    }
    db.state = DB_DOWN;
    db.sent = 0;
    set_available(0);
    db_req_t *failed = db.head;
    db.head = db.tail = NULL;
    db.queued = 0;
    if (!db.stopping) {
        db.backoff_ms = db.backoff_ms ? db.backoff_ms * 2 : DB_BACKOFF_MIN_MS;
        if (db.backoff_ms > db.cfg->pg_reconnect_max_ms)
            db.backoff_ms = db.cfg->pg_reconnect_max_ms;
        loop_timer_start(db.loop, &db.reconnect_timer, db.backoff_ms, connect_start, NULL);
    }
    while (failed) {
        db_req_t *r = failed;
        failed = r->next;
        if (r->cb) r->cb(r->ud, NULL, client_err);
        req_free(r);
    }
}

static void query_timeout(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    (void)t;
    connection_lost("query timed out (postgres.query_timeout)", DB_ERR_TIMEOUT);
}

static void lost_due(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    (void)t;
    if (db.broken) connection_lost(db.broken_why, DB_ERR_UNAVAILABLE);
}

/* The connection failed while sending (maybe inside db_exec): stop using
 * it now, fail the queue from the loop. */
static void lost_later(const char *detail)
{
    one_line(db.broken_why, sizeof db.broken_why, detail);
    db.broken = 1;
    loop_timer_start(db.loop, &db.lost_timer, 0, lost_due, NULL);
}

static void send_next(void)
{
    if (db.state != DB_READY || db.broken || db.sent || !db.head) return;
    db_req_t *r = db.head;
    if (!PQsendQueryParams(db.pg, r->sql, r->nparams, NULL, (const char *const *)r->values, NULL,
                           NULL, 0)) {
        lost_later(PQerrorMessage(db.pg));
        return;
    }
    db.sent = 1;
    loop_timer_start(db.loop, &db.query_timer, db.cfg->pg_query_timeout_ms + 2000, query_timeout,
                     NULL);
    int f = PQflush(db.pg);
    if (f < 0)
        lost_later(PQerrorMessage(db.pg));
    else
        watch_fd(PQsocket(db.pg), EPOLLIN | (f == 1 ? EPOLLOUT : 0));
}

/* The fixed client text for a failed statement: a statement_timeout
 * cancel or a server going away is "unavailable"; anything else is a
 * statement the database refused (the details are in the log). */
static const char *query_error(const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state) return DB_ERR_UNAVAILABLE;
    if (strcmp(state, "57014") == 0) return DB_ERR_TIMEOUT;
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
        strncmp(state, "53", 2) == 0)
        return DB_ERR_UNAVAILABLE;
    return DB_ERR_QUERY;
}

static void read_results(void)
{
    if (!PQconsumeInput(db.pg)) {
        connection_lost(PQerrorMessage(db.pg), DB_ERR_UNAVAILABLE);
        return;
    }
    while (db.sent && !PQisBusy(db.pg)) {
        PGresult *res = PQgetResult(db.pg);
        if (res) {
            /* Keep the first result; a single statement has only one. */
            if (!db.result)
                db.result = res;
            else
                PQclear(res);
            continue;
        }
        PGresult *first = db.result;
        db.result = NULL;
        ExecStatusType st = first ? PQresultStatus(first) : PGRES_FATAL_ERROR;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            complete_head(first, NULL);
        } else {
            char msg[512];
            one_line(msg, sizeof msg, first ? PQresultErrorMessage(first) : "no result");
            log_warn("query failed: %s", msg);
            complete_head(NULL, query_error(first));
        }
        PQclear(first);
        if (db.state != DB_READY) return;
        send_next();
    }
    /* Notices and async messages are consumed by PQconsumeInput. */
    if (PQstatus(db.pg) == CONNECTION_BAD)
        connection_lost(PQerrorMessage(db.pg), DB_ERR_UNAVAILABLE);
}

/* A connection attempt failed: logged on the first failure of an outage
 * and then once per attempt at the longest backoff, not at every retry. */
static void connect_failed(const char *detail)
{
    char msg[512];
    one_line(msg, sizeof msg, detail);
    if (db.backoff_ms == 0 || db.backoff_ms >= db.cfg->pg_reconnect_max_ms)
        log_warn("PostgreSQL connection failed: %s", msg);
    connection_lost(msg, DB_ERR_UNAVAILABLE);
}

static void poll_connect(void)
{
    PostgresPollingStatusType st = PQconnectPoll(db.pg);
    switch (st) {
    case PGRES_POLLING_READING: watch_fd(PQsocket(db.pg), EPOLLIN); return;
    case PGRES_POLLING_WRITING: watch_fd(PQsocket(db.pg), EPOLLOUT); return;
    case PGRES_POLLING_OK:
        db.state = DB_READY;
        db.backoff_ms = 0;
        loop_timer_stop(db.loop, &db.reconnect_timer);
        PQsetnonblocking(db.pg, 1);
        watch_fd(PQsocket(db.pg), EPOLLIN);
        set_available(1);
        log_info("PostgreSQL connected");
        send_next();
        return;
    default: connect_failed(PQerrorMessage(db.pg));
    }
}

static void db_io(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)loop;
    (void)w;
    if (db.state == DB_CONNECTING) {
        poll_connect();
        return;
    }
    if (db.state != DB_READY || db.broken) return;
    if (events & EPOLLOUT) {
        int f = PQflush(db.pg);
        if (f < 0) {
            connection_lost(PQerrorMessage(db.pg), DB_ERR_UNAVAILABLE);
            return;
        }
        if (f == 0) watch_fd(PQsocket(db.pg), EPOLLIN);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_results();
}

static void connect_timeout_check(loop_t *loop, loop_timer_t *t);

static void connect_start(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    (void)t;
    const char *keys[] = {"dbname", "options", NULL};
    const char *vals[] = {db.conninfo, db.options, NULL};
    db.pg = PQconnectStartParams(keys, vals, 1);
    if (db.pg) PQsetNoticeProcessor(db.pg, on_notice, NULL);
    if (!db.pg || PQstatus(db.pg) == CONNECTION_BAD) {
        connect_failed(db.pg ? PQerrorMessage(db.pg) : "out of memory");
        return;
    }
    db.state = DB_CONNECTING;
    /* libpq's connect_timeout only applies to blocking connects. */
    loop_timer_start(db.loop, &db.reconnect_timer, db.cfg->pg_connect_timeout_ms,
                     connect_timeout_check, NULL);
    poll_connect();
}

static void connect_timeout_check(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    (void)t;
    if (db.state == DB_CONNECTING)
        connection_lost("connection attempt timed out", DB_ERR_UNAVAILABLE);
}

/* PostgreSQL itself cancels a statement at postgres.query_timeout, so a
 * statement we gave up on cannot commit later behind our back; our own
 * timer (a little longer) only catches a server that stopped answering.
 * The setting is appended to the options the conninfo (keywords or URI)
 * may already carry, so both apply. */
static char *statement_timeout_options(const char *conninfo, uint32_t timeout_ms)
{
    const char *user = "";
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "options") == 0 && o->val) user = o->val;
    size_t len = strlen(user) + 64;
    char *out = malloc(len);
    if (out) snprintf(out, len, "%s%s-c statement_timeout=%u", user, *user ? " " : "", timeout_ms);
    PQconninfoFree(opts);
    return out;
}

int db_start(loop_t *loop, const ragws_config_t *cfg, const char *conninfo,
             void (*on_available)(int ok))
{
    memset(&db, 0, sizeof db);
    db.loop = loop;
    db.cfg = cfg;
    db.on_available = on_available;
    db.watched_fd = -1;
    db.conninfo = strdup(conninfo);
    db.options = statement_timeout_options(conninfo, cfg->pg_query_timeout_ms);
    if (!db.conninfo || !db.options) {
        free(db.conninfo);
        free(db.options);
        return -1;
    }
    set_available(0);
    connect_start(loop, NULL);
    return 0;
}

void db_stop(void)
{
    db.stopping = 1;
    loop_timer_stop(db.loop, &db.reconnect_timer);
    loop_timer_stop(db.loop, &db.query_timer);
    loop_timer_stop(db.loop, &db.lost_timer);
    /* Queries still queued fail now (their callers are closing too). */
    connection_lost("server stopping", DB_ERR_STOPPING);
    free(db.conninfo);
    free(db.options);
    db.conninfo = db.options = NULL;
}

db_req_t *db_exec(const char *sql, int nparams, const char *const *values, db_result_cb cb,
                  void *ud)
{
    if (!db_available() || db.queued >= DB_QUEUE_MAX) return NULL;
    size_t bytes = (size_t)nparams * sizeof(char *);
    for (int i = 0; i < nparams; i++)
        if (values[i]) bytes += strlen(values[i]) + 1;
    db_req_t *r = calloc(1, sizeof *r);
    char **vals = nparams ? malloc(bytes) : NULL;
    if (!r || (nparams && !vals)) {
        free(r);
        free(vals);
        return NULL;
    }
    char *p = (char *)(vals + nparams);
    for (int i = 0; i < nparams; i++) {
        if (!values[i]) {
            vals[i] = NULL;
            continue;
        }
        size_t n = strlen(values[i]) + 1;
        memcpy(p, values[i], n);
        vals[i] = p;
        p += n;
    }
    r->sql = sql;
    r->nparams = nparams;
    r->values = vals;
    r->cb = cb;
    r->ud = ud;
    if (db.tail)
        db.tail->next = r;
    else
        db.head = r;
    db.tail = r;
    db.queued++;
    send_next();
    return r;
}

void db_detach(db_req_t *r)
{
    if (r) r->cb = NULL;
}
