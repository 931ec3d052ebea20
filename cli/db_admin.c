/* Blocking PostgreSQL administration: connections and query helpers,
 * migrations and the start-up schema check (see db_admin.h). */
#include "cli/db_admin.h"

#include "base/utf8.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Session advisory lock key held while migrating ("ragwsmig"). */
#define MIGRATE_LOCK_KEY "8241982555800037735"

/* Same definition as in sql/001_init.sql: the migrator needs the table
 * before it can tell which files to run. */
static const char SQL_CREATE_MIGRATIONS[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                            " version int PRIMARY KEY,"
                                            " name text NOT NULL,"
                                            " applied_at timestamptz NOT NULL DEFAULT now())";

int db_admin_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int db_admin_fail_pg(char *err, size_t errlen, const char *what, const char *pgmsg)
{
    char msg[1024];
    text_one_line(msg, sizeof msg, pgmsg);
    return db_admin_fail(err, errlen, "%s: %s", what, msg[0] ? msg : "unknown error");
}

/* ------------------------------------------------------------------------
 * connections and small query helpers */

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation ... already exists, skipping" and the like */
}

PGconn *db_admin_connect(const char *conninfo, char *err, size_t errlen)
{
    PGconn *c = PQconnectdb(conninfo);
    if (!c) {
        db_admin_fail(err, errlen, "cannot connect to PostgreSQL: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        db_admin_fail_pg(err, errlen, "cannot connect to PostgreSQL", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    if (PQsetClientEncoding(c, "UTF8") != 0) {
        db_admin_fail_pg(err, errlen, "cannot set client encoding UTF8", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Runs a statement that returns no rows; -1 with err "what: message". */
int db_admin_exec(PGconn *c, const char *sql, int n, const char *const *vals, const char *what,
                  char *err, size_t errlen)
{
    PGresult *r = n ? PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0) : PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = db_admin_fail_pg(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    PQclear(r);
    return rc;
}

/* Runs a query and hands back its result (caller PQclears), or NULL with
 * err set. */
PGresult *db_admin_rows(PGconn *c, const char *sql, int n, const char *const *vals,
                        const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_admin_fail_pg(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* After a failure inside BEGIN: leave the connection usable again. */
void db_admin_rollback(PGconn *c)
{
    if (PQtransactionStatus(c) != PQTRANS_IDLE) PQclear(PQexec(c, "ROLLBACK"));
}

/* The versions recorded in schema_migrations, as flags indexed by the
 * position of the embedded migration. -1 with err on failure. */
static int applied_versions(PGconn *c, int *applied, int *max_version, char *err, size_t errlen)
{
    for (int i = 0; i < ragws_n_migrations; i++) applied[i] = 0;
    *max_version = 0;
    PGresult *r = db_admin_rows(c, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL,
                                "cannot read the schema version", err, errlen);
    if (!r) return -1;
    int exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!exists) return 0;

    r = db_admin_rows(c, "SELECT version FROM schema_migrations ORDER BY version", 0, NULL,
                      "cannot read schema_migrations", err, errlen);
    if (!r) return -1;
    for (int row = 0; row < PQntuples(r); row++) {
        int v = atoi(PQgetvalue(r, row, 0));
        if (v > *max_version) *max_version = v;
        for (int i = 0; i < ragws_n_migrations; i++)
            if (ragws_migrations[i].version == v) applied[i] = 1;
    }
    PQclear(r);
    return 0;
}

/* ------------------------------------------------------------------------
 * migrations */

static int apply_one(PGconn *c, const struct migration *m, char *err, size_t errlen)
{
    char what[160], ver[16];
    snprintf(what, sizeof what, "migration %03d_%s failed", m->version, m->name);
    snprintf(ver, sizeof ver, "%d", m->version);
    const char *vals[2] = {ver, m->name};

    /* The file and its row commit together: a failed file leaves no trace
     * and is retried by the next run. */
    if (db_admin_exec(c, "BEGIN", 0, NULL, what, err, errlen) < 0 ||
        db_admin_exec(c, m->sql, 0, NULL, what, err, errlen) < 0 ||
        db_admin_exec(c, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2,
                      vals, what, err, errlen) < 0 ||
        db_admin_exec(c, "COMMIT", 0, NULL, what, err, errlen) < 0) {
        db_admin_rollback(c);
        return -1;
    }
    return 0;
}

int db_migrate(const char *conninfo, FILE *out, char *err, size_t errlen)
{
    PGconn *c = db_admin_connect(conninfo, err, errlen);
    if (!c) return -1;
    int *applied = calloc((size_t)ragws_n_migrations + 1, sizeof *applied);
    int n_applied = 0, max_version = 0, rc = -1;
    if (!applied) {
        db_admin_fail(err, errlen, "out of memory");
        goto out;
    }
    /* A second migrator waits here, then finds everything applied. */
    if (db_admin_exec(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL,
                      "cannot take the migration lock", err, errlen) < 0)
        goto out;
    if (db_admin_exec(c, SQL_CREATE_MIGRATIONS, 0, NULL, "cannot create schema_migrations", err,
                      errlen) < 0 ||
        applied_versions(c, applied, &max_version, err, errlen) < 0)
        goto unlock;

    for (int i = 0; i < ragws_n_migrations; i++) {
        const struct migration *m = &ragws_migrations[i];
        if (applied[i]) continue;
        if (apply_one(c, m, err, errlen) < 0) goto unlock;
        n_applied++;
        if (m->version > max_version) max_version = m->version;
        if (out) fprintf(out, "applied migration %03d_%s\n", m->version, m->name);
    }
    if (out) {
        if (n_applied)
            fprintf(out, "schema is at version %d (%d migration%s applied)\n", max_version,
                    n_applied, n_applied == 1 ? "" : "s");
        else
            fprintf(out, "schema is up to date (version %d)\n", max_version);
        fflush(out);
    }
    rc = n_applied;
unlock:
    PQclear(PQexec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
out:
    free(applied);
    PQfinish(c);
    return rc;
}

int db_schema_check(const char *conninfo, char *err, size_t errlen)
{
    PGconn *c = db_admin_connect(conninfo, err, errlen);
    if (!c) return -2;
    int *applied = calloc((size_t)ragws_n_migrations + 1, sizeof *applied);
    int max_version = 0, rc = -1;
    if (!applied) {
        db_admin_fail(err, errlen, "out of memory");
        goto out;
    }
    if (applied_versions(c, applied, &max_version, err, errlen) < 0) {
        /* Connected but cannot even read: a broken server, not an old
         * schema; let the caller treat it as unavailable storage. */
        rc = PQstatus(c) == CONNECTION_OK ? -1 : -2;
        goto out;
    }
    char missing[512] = "";
    size_t o = 0;
    int n_missing = 0, needed = 0;
    for (int i = 0; i < ragws_n_migrations; i++) {
        const struct migration *m = &ragws_migrations[i];
        if (m->version > needed) needed = m->version;
        if (applied[i]) continue;
        n_missing++;
        if (o < sizeof missing - 40)
            o += (size_t)snprintf(missing + o, sizeof missing - o, "%s%03d_%s", o ? ", " : "",
                                  m->version, m->name);
    }
    if (!n_missing) {
        rc = 0;
    } else if (max_version == 0) {
        db_admin_fail(
            err, errlen,
            "the database has no ragws schema (version 0); this ragws needs schema version %d "
            "(missing: %s)",
            needed, missing);
    } else {
        db_admin_fail(err, errlen,
                      "the database schema is at version %d; this ragws needs schema version %d "
                      "(missing: %s)",
                      max_version, needed, missing);
    }
out:
    free(applied);
    PQfinish(c);
    return rc;
}
