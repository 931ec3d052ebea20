#include "worker/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "worker/worker.h"

#define DB_QUEUE_MAX 4096
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
    char *conninfo;
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
} db;

static void db_io(loop_t *loop, loop_watch_t *w, uint32_t events);
static void connect_start(loop_t *loop, loop_timer_t *t);

static void set_available(int ok)
{
    if (wk && wk->slot) atomic_store(&wk->slot->db_ok, (uint32_t)ok);
}

int db_available(void) { return db.state == DB_READY; }

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
        if (loop_watch_add(db.loop, &db.watch, fd, events, db_io, NULL) == 0)
            db.watched_fd = fd;
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
 * done, so callers report STORAGE_UNAVAILABLE), then reconnect. */
static void connection_lost(const char *why)
{
    if (db.state == DB_READY && !db.stopping) log_warn("PostgreSQL connection lost: %s", why); /* a stop is no loss */
    unwatch();
    if (db.result) {
        PQclear(db.result);
        db.result = NULL;
    }
    if (db.pg) {
        PQfinish(db.pg);
        db.pg = NULL;
    }
    db.state = DB_DOWN;
    set_available(0);
    while (db.head) complete_head(NULL, why);
    if (db.stopping) return;
    db.backoff_ms = db.backoff_ms ? db.backoff_ms * 2 : DB_BACKOFF_MIN_MS;
    if (db.backoff_ms > db.cfg->pg_reconnect_max_ms) db.backoff_ms = db.cfg->pg_reconnect_max_ms;
    loop_timer_start(db.loop, &db.reconnect_timer, db.backoff_ms, connect_start, NULL);
}

static void query_timeout(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    (void)t;
    connection_lost("query timed out (postgres.query_timeout)");
}

static void send_next(void)
{
    if (db.state != DB_READY || db.sent || !db.head) return;
    db_req_t *r = db.head;
    if (!PQsendQueryParams(db.pg, r->sql, r->nparams, NULL,
                           (const char *const *)r->values, NULL, NULL, 0)) {
        connection_lost(PQerrorMessage(db.pg));
        return;
    }
    db.sent = 1;
    loop_timer_start(db.loop, &db.query_timer, db.cfg->pg_query_timeout_ms + 2000, query_timeout, NULL);
    int f = PQflush(db.pg);
    if (f < 0) connection_lost(PQerrorMessage(db.pg));
    else watch_fd(PQsocket(db.pg), EPOLLIN | (f == 1 ? EPOLLOUT : 0));
}

static void read_results(void)
{
    if (!PQconsumeInput(db.pg)) {
        connection_lost(PQerrorMessage(db.pg));
        return;
    }
    while (db.sent && !PQisBusy(db.pg)) {
        PGresult *res = PQgetResult(db.pg);
        if (res) {
            /* Keep the first result; a single statement has only one. */
            if (!db.result) db.result = res;
            else PQclear(res);
            continue;
        }
        PGresult *first = db.result;
        db.result = NULL;
        ExecStatusType st = first ? PQresultStatus(first) : PGRES_FATAL_ERROR;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            complete_head(first, NULL);
        } else {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", first ? PQresultErrorMessage(first) : "no result");
            msg[strcspn(msg, "\n")] = 0;
            log_warn("query failed: %s", msg);
            complete_head(NULL, msg);
        }
        PQclear(first);
        if (db.state != DB_READY) return;
        send_next();
    }
    /* Notices and async messages are consumed by PQconsumeInput. */
    if (PQstatus(db.pg) == CONNECTION_BAD) connection_lost(PQerrorMessage(db.pg));
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
    default: {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(db.pg));
        msg[strcspn(msg, "\n")] = 0;
        if (db.backoff_ms == 0 || db.backoff_ms >= db.cfg->pg_reconnect_max_ms)
            log_warn("PostgreSQL connection failed: %s", msg);
        connection_lost(msg);
    }
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
    if (db.state != DB_READY) return;
    if (events & EPOLLOUT) {
        int f = PQflush(db.pg);
        if (f < 0) {
            connection_lost(PQerrorMessage(db.pg));
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
    db.pg = PQconnectStart(db.conninfo);
    if (!db.pg || PQstatus(db.pg) == CONNECTION_BAD) {
        connection_lost(db.pg ? PQerrorMessage(db.pg) : "out of memory");
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
    if (db.state == DB_CONNECTING) connection_lost("connection attempt timed out");
}

int db_start(loop_t *loop, const ragws_config_t *cfg, const char *conninfo)
{
    memset(&db, 0, sizeof db);
    db.loop = loop;
    db.cfg = cfg;
    db.watched_fd = -1;
    /* PostgreSQL itself cancels a statement at postgres.query_timeout, so a
     * statement we gave up on cannot commit later behind our back; our own
     * timer (a little longer) only catches a server that stopped answering. */
    size_t len = strlen(conninfo) + 64;
    db.conninfo = malloc(len);
    if (!db.conninfo) return -1;
    if (strstr(conninfo, "options") || strstr(conninfo, "://"))
        snprintf(db.conninfo, len, "%s", conninfo);
    else
        snprintf(db.conninfo, len, "%s options='-c statement_timeout=%u'", conninfo,
                 cfg->pg_query_timeout_ms);
    set_available(0);
    connect_start(loop, NULL);
    return 0;
}

void db_stop(void)
{
    db.stopping = 1;
    loop_timer_stop(db.loop, &db.reconnect_timer);
    loop_timer_stop(db.loop, &db.query_timer);
    /* Queries still queued fail now (their callers are closing too). */
    connection_lost("server stopping");
    free(db.conninfo);
    db.conninfo = NULL;
}

db_req_t *db_exec(const char *sql, int nparams, const char *const *values,
                  db_result_cb cb, void *ud)
{
    if (db.state != DB_READY || db.queued >= DB_QUEUE_MAX) return NULL;
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
    if (db.tail) db.tail->next = r;
    else db.head = r;
    db.tail = r;
    db.queued++;
    send_next();
    return r;
}

void db_detach(db_req_t *r)
{
    if (r) r->cb = NULL;
}
