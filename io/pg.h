/* The worker's PostgreSQL client: one libpq connection in non-blocking mode
 * driven by the event loop, a bounded FIFO of parameterized queries, and
 * reconnection with backoff. Nothing here blocks the loop.
 *
 * A query either gets its result or an error through its callback, exactly
 * once (unless detached). While PostgreSQL is unreachable db_exec refuses
 * at once, so callers answer STORAGE_UNAVAILABLE instead of waiting. When
 * the connection is lost, the whole queue is taken off first and then
 * failed: a callback may call db_exec (refused) or db_detach/db_stop. No
 * callback ever runs inside db_exec, so its caller can store the request
 * it gets back before anything happens to it. */
#ifndef RAGWS_WORKER_DB_H
#define RAGWS_WORKER_DB_H

#include <libpq-fe.h>

#include "base/config.h"
#include "base/loop.h"

typedef struct db_req db_req_t;

/* res is valid only during the call (the library clears it); on failure
 * res is NULL and err is one of the DB_ERR_* texts below: fixed, static,
 * safe to show to a client. libpq's own text (which may name hosts and
 * spans lines) only goes to the log, on one line. */
#define DB_ERR_UNAVAILABLE "PostgreSQL is unavailable; retry shortly"
#define DB_ERR_TIMEOUT     "PostgreSQL did not answer within postgres.query_timeout; retry shortly"
#define DB_ERR_STOPPING    "server stopping"
#define DB_ERR_QUERY       "the database could not run the statement"

typedef void (*db_result_cb)(void *ud, PGresult *res, const char *err);

/* loop and cfg are the worker's (they outlive the client). on_available
 * (may be NULL) is told every change of db_available(): 1 when connected,
 * 0 when not (the worker mirrors it into its shared-memory slot). */
int db_start(loop_t *loop, const ragws_config_t *cfg, const char *conninfo,
             void (*on_available)(int ok));
void db_stop(void);

/* 1 when connected and accepting queries. */
int db_available(void);

/* Queue a query with text parameters (NULL value = SQL NULL). sql must
 * stay valid until the callback (use string literals). Returns NULL when
 * storage is unavailable or the queue is full; cb is then never called. */
db_req_t *db_exec(const char *sql, int nparams, const char *const *values, db_result_cb cb,
                  void *ud);

/* The caller no longer wants the callback (it is going away). The query
 * itself still runs: writes still happen. */
void db_detach(db_req_t *r);

#endif
