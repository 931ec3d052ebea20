/* Blocking PostgreSQL administration (SPEC S5): schema migrations, the
 * schema check at start-up, and the connection and query helpers that
 * `ragws ingest` (cli/ingest.h) uses too. The conninfo comes from
 * db_resolve_conninfo (base/config.h).
 *
 * Everything here uses blocking libpq calls. It runs in the CLI before the
 * master forks the workers, never inside a worker's event loop (io/pg.h is
 * the non-blocking client). Results handed back are the caller's to
 * PQclear; err is always one line. */
#ifndef RAGWS_MASTER_DB_ADMIN_H
#define RAGWS_MASTER_DB_ADMIN_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdio.h>

#include "base/config.h"

/* The migrations in sql/, embedded at build time by scripts/embed-sql.sh
 * (build/gen/migrations.c), ascending by version. */
struct migration {
    int version;      /* from the NNN_ prefix of the file name */
    const char *name; /* the rest of the file name, without .sql */
    const char *sql;  /* the whole file */
};
extern const struct migration ragws_migrations[];
extern const int ragws_n_migrations;

/* Applies every embedded migration the database does not have yet, each in
 * its own transaction together with its schema_migrations row, under an
 * advisory lock so that concurrent migrators apply each one once. Writes
 * one line per applied migration and a final status line to out (may be
 * NULL). Returns the number applied (0: already up to date), or -1 with
 * err set. */
int db_migrate(const char *conninfo, FILE *out, char *err, size_t errlen);

/* 0: the database has every embedded migration (versions applied by a
 * newer binary are fine). -1: some are missing; err says which version the
 * database is at and which this binary needs. -2: the database cannot be
 * reached; err holds libpq's message. The caller adds the command that
 * fixes a -1 (it knows the config path). */
int db_schema_check(const char *conninfo, char *err, size_t errlen);

/* Blocking connection for the functions above: NULL with err set (libpq's
 * message on one line) when it fails. Notices are not printed and the
 * client encoding is UTF8. */
PGconn *db_admin_connect(const char *conninfo, char *err, size_t errlen);

/* Query helpers. db_admin_fail writes the message into err and returns
 * -1; db_admin_fail_pg writes "what: <libpq message on one line>". */
int db_admin_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int db_admin_fail_pg(char *err, size_t errlen, const char *what, const char *pgmsg);
/* A statement that returns no rows (n parameters in text form, or none:
 * then it may hold several statements); -1 with err "what: message". */
int db_admin_exec(PGconn *c, const char *sql, int n, const char *const *vals, const char *what,
                  char *err, size_t errlen);
/* A query's rows (the caller PQclears them), or NULL with err set. */
PGresult *db_admin_rows(PGconn *c, const char *sql, int n, const char *const *vals,
                        const char *what, char *err, size_t errlen);
/* After a failure inside BEGIN: leave the connection usable again. */
void db_admin_rollback(PGconn *c);

#endif
