/* Blocking PostgreSQL administration: migrations, the start-up schema
 * check, and ingestion of text files (see db_admin.h). */
#include "cli/db_admin.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Session advisory lock key held while migrating ("ragwsmig"). */
#define MIGRATE_LOCK_KEY "8241982555800037735"

/* Larger inputs are almost certainly not documents meant for this CLI. */
#define INGEST_MAX_BYTES     (64u * 1024 * 1024)
#define COLLECTION_MAX_BYTES 200

/* Same definition as in sql/001_init.sql: the migrator needs the table
 * before it can tell which files to run. */
static const char SQL_CREATE_MIGRATIONS[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                            " version int PRIMARY KEY,"
                                            " name text NOT NULL,"
                                            " applied_at timestamptz NOT NULL DEFAULT now())";

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* libpq messages span several lines ("...failed: ...\n\tIs the server
 * running...?\n"); callers print one line, so fold them: a line break
 * becomes "; ", other whitespace runs one space. */
static void one_line(char *dst, size_t dstlen, const char *msg)
{
    size_t o = 0;
    int space = 0, newline = 0;
    if (!dstlen) return;
    for (const char *p = msg ? msg : ""; *p && o + 1 < dstlen; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t' || *p == ' ') {
            space = 1;
            newline |= *p == '\n';
            continue;
        }
        if (space && o > 0 && o + 3 < dstlen) {
            if (newline) dst[o++] = ';';
            dst[o++] = ' ';
        }
        space = newline = 0;
        dst[o++] = *p;
    }
    dst[o] = '\0';
}

static int fail_pg(char *err, size_t errlen, const char *what, const char *pgmsg)
{
    char msg[1024];
    one_line(msg, sizeof msg, pgmsg);
    return fail(err, errlen, "%s: %s", what, msg[0] ? msg : "unknown error");
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
        fail(err, errlen, "cannot connect to PostgreSQL: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        fail_pg(err, errlen, "cannot connect to PostgreSQL", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    if (PQsetClientEncoding(c, "UTF8") != 0) {
        fail_pg(err, errlen, "cannot set client encoding UTF8", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Runs a statement that returns no rows; -1 with err "what: message". */
static int exec_cmd(PGconn *c, const char *sql, int n, const char *const *vals, const char *what,
                    char *err, size_t errlen)
{
    PGresult *r = n ? PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0) : PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = fail_pg(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    PQclear(r);
    return rc;
}

/* Runs a query and hands back its result (caller PQclears), or NULL with
 * err set. */
static PGresult *exec_rows(PGconn *c, const char *sql, int n, const char *const *vals,
                           const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_pg(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* After a failure inside BEGIN: leave the connection usable again. */
static void rollback_if_open(PGconn *c)
{
    if (PQtransactionStatus(c) != PQTRANS_IDLE) PQclear(PQexec(c, "ROLLBACK"));
}

/* The versions recorded in schema_migrations, as flags indexed by the
 * position of the embedded migration. -1 with err on failure. */
static int applied_versions(PGconn *c, int *applied, int *max_version, char *err, size_t errlen)
{
    for (int i = 0; i < ragws_n_migrations; i++) applied[i] = 0;
    *max_version = 0;
    PGresult *r = exec_rows(c, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL,
                            "cannot read the schema version", err, errlen);
    if (!r) return -1;
    int exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!exists) return 0;

    r = exec_rows(c, "SELECT version FROM schema_migrations ORDER BY version", 0, NULL,
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
    if (exec_cmd(c, "BEGIN", 0, NULL, what, err, errlen) < 0 ||
        exec_cmd(c, m->sql, 0, NULL, what, err, errlen) < 0 ||
        exec_cmd(c, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2, vals,
                 what, err, errlen) < 0 ||
        exec_cmd(c, "COMMIT", 0, NULL, what, err, errlen) < 0) {
        rollback_if_open(c);
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
        fail(err, errlen, "out of memory");
        goto out;
    }
    /* A second migrator waits here, then finds everything applied. */
    if (exec_cmd(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL,
                 "cannot take the migration lock", err, errlen) < 0)
        goto out;
    if (exec_cmd(c, SQL_CREATE_MIGRATIONS, 0, NULL, "cannot create schema_migrations", err,
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
        fail(err, errlen, "out of memory");
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
        fail(err, errlen,
             "the database has no ragws schema (version 0); this ragws needs schema version %d "
             "(missing: %s)",
             needed, missing);
    } else {
        fail(err, errlen,
             "the database schema is at version %d; this ragws needs schema version %d "
             "(missing: %s)",
             max_version, needed, missing);
    }
out:
    free(applied);
    PQfinish(c);
    return rc;
}

/* ------------------------------------------------------------------------
 * ingestion */

static int read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return fail(err, errlen, "%s: not a regular file", path);
    }
    if ((uintmax_t)st.st_size > INGEST_MAX_BYTES) {
        fclose(f);
        return fail(err, errlen, "%s: too large (%jd bytes, at most %u)", path,
                    (intmax_t)st.st_size, INGEST_MAX_BYTES);
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *b = malloc(cap);
    if (!b) {
        fclose(f);
        return fail(err, errlen, "%s: out of memory", path);
    }
    /* Read to EOF rather than trusting st_size: the file may grow. */
    for (;;) {
        if (n == cap) {
            if (cap > INGEST_MAX_BYTES) {
                free(b);
                fclose(f);
                return fail(err, errlen, "%s: too large (more than %u bytes)", path,
                            INGEST_MAX_BYTES);
            }
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                fclose(f);
                return fail(err, errlen, "%s: out of memory", path);
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(b);
        return fail(err, errlen, "%s: read error", path);
    }
    *buf = b;
    *len = n;
    return 0;
}

static int is_markdown(const char *path)
{
    const char *base = strrchr(path, '/');
    const char *dot = strrchr(base ? base : path, '.');
    if (!dot) return 0;
    return strcasecmp(dot, ".md") == 0 || strcasecmp(dot, ".markdown") == 0 ||
           strcasecmp(dot, ".mdown") == 0 || strcasecmp(dot, ".mkd") == 0;
}

static const char SQL_ENSURE_COLLECTION[] =
    "INSERT INTO collections (name) VALUES ($1) ON CONFLICT (name) DO NOTHING";
static const char SQL_COLLECTION_ID[] = "SELECT id FROM collections WHERE name = $1";
static const char SQL_INSERT_DOCUMENT[] =
    "INSERT INTO documents (collection_id, filename, content_type, size_bytes, status, metadata)"
    " VALUES ($1::bigint, $2, $3, $4::bigint, 'indexed',"
    "  jsonb_build_object('source', 'ragws ingest', 'path', $5::text,"
    "   'chunk_chars', $6::int, 'chunk_overlap', $7::int, 'sha256', $8::text))"
    " RETURNING id";
/* Ingestions into one collection take turns, so two runs of the same file
 * cannot both find it missing. */
static const char SQL_LOCK_COLLECTION[] =
    "SELECT pg_advisory_xact_lock(1918985063, $1::bigint::int)";
/* $1 is sent in binary (the file's bytes, not NUL-terminated). */
static const char SQL_CONTENT_HASH[] = "SELECT encode(sha256($1::bytea), 'hex')";
/* The same text chunked the same way is already there (any file name). */
static const char SQL_SAME_CONTENT[] =
    "SELECT id FROM documents WHERE collection_id = $1::bigint AND metadata->>'sha256' = $2"
    " AND (metadata->>'chunk_chars')::int = $3::int"
    " AND (metadata->>'chunk_overlap')::int = $4::int ORDER BY id LIMIT 1";
/* An earlier version of the same file (same absolute path): replaced. */
static const char SQL_DROP_OLD_VERSION[] =
    "DELETE FROM documents WHERE collection_id = $1::bigint AND metadata->>'path' = $2"
    " AND metadata->>'source' = 'ragws ingest' RETURNING id";
static const char SQL_INSERT_CHUNK[] =
    "INSERT INTO chunks (document_id, collection_id, ordinal, page, content)"
    " VALUES ($1::bigint, $2::bigint, $3::int, $4::int, $5)";

/* Stores the chunks; the caller has begun the transaction. */
static int insert_chunks(PGconn *c, const char *doc_id, const char *coll_id, const char *text,
                         const chunk_span_t *spans, size_t n, int paged, const char *path,
                         char *err, size_t errlen)
{
    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "%s: cannot store chunks", path);
    /* Prepared once (unnamed statement), executed per chunk. */
    PGresult *r = PQprepare(c, "", SQL_INSERT_CHUNK, 5, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fail_pg(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    PQclear(r);

    size_t longest = 0;
    for (size_t i = 0; i < n; i++)
        if (spans[i].len > longest) longest = spans[i].len;
    char *content = malloc(longest + 1);
    if (!content) return fail(err, errlen, "%s: out of memory", path);

    long page = 1;
    size_t scanned = 0; /* form feeds counted up to here */
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (; scanned < spans[i].start; scanned++)
            if (text[scanned] == '\f') page++;
        char ord[24], pg[24];
        snprintf(ord, sizeof ord, "%zu", i);
        snprintf(pg, sizeof pg, "%ld", page);
        memcpy(content, text + spans[i].start, spans[i].len);
        content[spans[i].len] = '\0';
        const char *vals[5] = {doc_id, coll_id, ord, paged ? pg : NULL, content};
        r = PQexecPrepared(c, "", 5, vals, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = fail_pg(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
    }
    free(content);
    return rc;
}

/* Inside the ingest transaction: waits for other ingestions into the
 * collection, computes the text's SHA-256 into sha (65 bytes), then either
 * finds a document with the same text and chunking (returns 1, its id in
 * doc_id) or deletes the earlier versions of the file at abs (their ids,
 * comma separated, in replaced) and returns 0. -1 on error. */
static int find_same_or_drop_old(PGconn *c, const char *coll_id, const char *text, size_t tlen,
                                 const char *abs, const char *cc, const char *co, char *sha,
                                 char *doc_id, char *replaced, size_t rlen, const char *what,
                                 char *err, size_t errlen)
{
    const char *lvals[1] = {coll_id};
    PGresult *r = exec_rows(c, SQL_LOCK_COLLECTION, 1, lvals, what, err, errlen);
    if (!r) return -1;
    PQclear(r);
    const char *hvals[1] = {text};
    const int hlens[1] = {(int)tlen}, hfmts[1] = {1};
    const Oid htypes[1] = {17}; /* bytea */
    r = PQexecParams(c, SQL_CONTENT_HASH, 1, htypes, hvals, hlens, hfmts, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_pg(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    snprintf(sha, 65, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *svals[4] = {coll_id, sha, cc, co};
    if (!(r = exec_rows(c, SQL_SAME_CONTENT, 4, svals, what, err, errlen))) return -1;
    int same = PQntuples(r) > 0;
    if (same) snprintf(doc_id, 24, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (same) return 1;
    const char *dvals[2] = {coll_id, abs};
    if (!(r = exec_rows(c, SQL_DROP_OLD_VERSION, 2, dvals, what, err, errlen))) return -1;
    size_t o = 0;
    replaced[0] = '\0';
    for (int i = 0; i < PQntuples(r) && o + 24 < rlen; i++)
        o += (size_t)snprintf(replaced + o, rlen - o, "%s%s", i ? ", " : "", PQgetvalue(r, i, 0));
    PQclear(r);
    return 0;
}

int db_ingest_file(PGconn *conn, const char *collection, const char *path,
                   const ragws_config_t *cfg, FILE *out, char *err, size_t errlen)
{
    size_t clen = strlen(collection);
    if (clen == 0 || clen > COLLECTION_MAX_BYTES || !utf8_valid(collection, clen, NULL))
        return fail(err, errlen, "bad collection name \"%s\" (1..%d bytes of UTF-8 text)",
                    collection, COLLECTION_MAX_BYTES);

    char *buf = NULL;
    size_t len = 0;
    if (read_file(path, &buf, &len, err, errlen) < 0) return -1;

    int rc = -1;
    chunk_span_t *spans = NULL;
    size_t bad;
    const char *nul = memchr(buf, '\0', len);
    if (nul) {
        fail(err, errlen,
             "%s: binary file (NUL byte at offset %zu); only UTF-8 text and "
             "Markdown can be ingested",
             path, (size_t)(nul - buf));
        goto done;
    }
    if (!utf8_valid(buf, len, &bad)) {
        fail(err, errlen,
             "%s: not UTF-8 text (invalid byte at offset %zu); only UTF-8 text and "
             "Markdown can be ingested",
             path, bad);
        goto done;
    }
    /* A byte order mark is not content. */
    const char *text = buf;
    size_t tlen = len;
    if (tlen >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        tlen -= 3;
    }

    size_t n = chunk_text(text, tlen, cfg->chunk_chars, cfg->chunk_overlap, NULL, 0);
    if (n == 0) {
        fail(err, errlen, "%s: no text to index (the file is empty or blank)", path);
        goto done;
    }
    spans = calloc(n, sizeof *spans);
    if (!spans) {
        fail(err, errlen, "%s: out of memory", path);
        goto done;
    }
    chunk_text(text, tlen, cfg->chunk_chars, cfg->chunk_overlap, spans, n);

    int md = is_markdown(path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char abs[PATH_MAX];
    if (!realpath(path, abs)) snprintf(abs, sizeof abs, "%s", path);
    char size[24], cc[16], co[16];
    snprintf(size, sizeof size, "%zu", len);
    snprintf(cc, sizeof cc, "%u", cfg->chunk_chars);
    snprintf(co, sizeof co, "%u", cfg->chunk_overlap);

    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "%s: cannot store the document", path);
    if (exec_cmd(conn, "BEGIN", 0, NULL, what, err, errlen) < 0) goto done;

    const char *cvals[1] = {collection};
    char coll_id[24], doc_id[24], sha[65];
    if (exec_cmd(conn, SQL_ENSURE_COLLECTION, 1, cvals, what, err, errlen) < 0) goto rollback;
    PGresult *r = exec_rows(conn, SQL_COLLECTION_ID, 1, cvals, what, err, errlen);
    if (!r) goto rollback;
    snprintf(coll_id, sizeof coll_id, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    if (!coll_id[0]) {
        fail(err, errlen, "%s: collection \"%s\" vanished while ingesting", path, collection);
        goto rollback;
    }

    char replaced[64] = "";
    int same = find_same_or_drop_old(conn, coll_id, text, tlen, abs, cc, co, sha, doc_id, replaced,
                                     sizeof replaced, what, err, errlen);
    if (same < 0) goto rollback;
    if (same) {
        if (exec_cmd(conn, "COMMIT", 0, NULL, what, err, errlen) < 0) goto rollback;
        if (out) {
            fprintf(out, "unchanged %s in %s: already document %s, skipped\n", path, collection,
                    doc_id);
            fflush(out);
        }
        rc = 0;
        goto done;
    }

    const char *dvals[8] = {coll_id, base, md ? "text/markdown" : "text/plain", size, abs, cc,
                            co,      sha};
    r = exec_rows(conn, SQL_INSERT_DOCUMENT, 8, dvals, what, err, errlen);
    if (!r) goto rollback;
    snprintf(doc_id, sizeof doc_id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);

    if (insert_chunks(conn, doc_id, coll_id, text, spans, n, !md, path, err, errlen) < 0 ||
        exec_cmd(conn, "COMMIT", 0, NULL, what, err, errlen) < 0)
        goto rollback;

    if (out) {
        fprintf(out, "ingested %s into %s: document %s, %zu chunk%s%s%s%s\n", path, collection,
                doc_id, n, n == 1 ? "" : "s", replaced[0] ? " (replaces document " : "", replaced,
                replaced[0] ? ")" : "");
        fflush(out);
    }
    rc = 0;
    goto done;
rollback:
    rollback_if_open(conn);
done:
    free(spans);
    free(buf);
    return rc;
}
