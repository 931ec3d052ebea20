/* `ragws ingest`: a text or Markdown file into a collection, as one
 * document with its chunks, in one transaction (see cli/ingest.h). */
#include "cli/ingest.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/chunk.h"
#include "base/utf8.h"
#include "cli/db_admin.h"

/* Larger inputs are almost certainly not documents meant for this CLI. */
#define INGEST_MAX_BYTES     (64u * 1024 * 1024)
#define COLLECTION_MAX_BYTES 200

/* The whole file (NUL-terminated, *len bytes), read to EOF rather than
 * trusting st_size: the file may grow. */
static int read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return db_admin_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return db_admin_fail(err, errlen, "%s: not a regular file", path);
    }
    if ((uintmax_t)st.st_size > INGEST_MAX_BYTES) {
        fclose(f);
        return db_admin_fail(err, errlen, "%s: too large (%jd bytes, at most %u)", path,
                             (intmax_t)st.st_size, INGEST_MAX_BYTES);
    }
    buf_t b = BUF_INIT(INGEST_MAX_BYTES);
    char chunk[64 * 1024];
    int rc = buf_reserve(&b, (size_t)st.st_size) < 0
                 ? db_admin_fail(err, errlen, "%s: out of memory", path)
                 : 0;
    while (rc == 0) {
        size_t got = fread(chunk, 1, sizeof chunk, f);
        if (got == 0) break;
        if (buf_append(&b, chunk, got) == 0) continue;
        if (b.len + got > INGEST_MAX_BYTES)
            rc = db_admin_fail(err, errlen, "%s: too large (more than %u bytes)", path,
                               INGEST_MAX_BYTES);
        else
            rc = db_admin_fail(err, errlen, "%s: out of memory", path);
    }
    if (rc == 0 && ferror(f)) rc = db_admin_fail(err, errlen, "%s: read error", path);
    fclose(f);
    *len = b.len;
    if (rc == 0 && !(*buf = buf_take(&b)))
        rc = db_admin_fail(err, errlen, "%s: out of memory", path);
    buf_free(&b);
    return rc;
}

static int is_markdown(const char *path)
{
    const char *base = strrchr(path, '/');
    const char *dot = strrchr(base ? base : path, '.');
    if (!dot) return 0;
    return strcasecmp(dot, ".md") == 0 || strcasecmp(dot, ".markdown") == 0 ||
           strcasecmp(dot, ".mdown") == 0 || strcasecmp(dot, ".mkd") == 0;
}

/* The text to index in buf: binary content (a NUL byte, invalid UTF-8)
 * is refused; a byte order mark is not content. */
static int text_of(const char *path, const char *buf, size_t len, const char **text, size_t *tlen,
                   char *err, size_t errlen)
{
    size_t bad;
    const char *nul = memchr(buf, '\0', len);
    if (nul)
        return db_admin_fail(err, errlen,
                             "%s: binary file (NUL byte at offset %zu); only UTF-8 text and "
                             "Markdown can be ingested",
                             path, (size_t)(nul - buf));
    if (!utf8_valid(buf, len, &bad))
        return db_admin_fail(err, errlen,
                             "%s: not UTF-8 text (invalid byte at offset %zu); only UTF-8 text and "
                             "Markdown can be ingested",
                             path, bad);
    *text = buf;
    *tlen = len;
    if (*tlen >= 3 && memcmp(*text, "\xEF\xBB\xBF", 3) == 0) {
        *text += 3;
        *tlen -= 3;
    }
    return 0;
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
        db_admin_fail_pg(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    PQclear(r);

    size_t longest = 0;
    for (size_t i = 0; i < n; i++)
        if (spans[i].len > longest) longest = spans[i].len;
    char *content = malloc(longest + 1);
    if (!content) return db_admin_fail(err, errlen, "%s: out of memory", path);

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
            rc = db_admin_fail_pg(err, errlen, what,
                                  r ? PQresultErrorMessage(r) : PQerrorMessage(c));
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
    PGresult *r = db_admin_rows(c, SQL_LOCK_COLLECTION, 1, lvals, what, err, errlen);
    if (!r) return -1;
    PQclear(r);
    const char *hvals[1] = {text};
    const int hlens[1] = {(int)tlen}, hfmts[1] = {1};
    const Oid htypes[1] = {17}; /* bytea */
    r = PQexecParams(c, SQL_CONTENT_HASH, 1, htypes, hvals, hlens, hfmts, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_admin_fail_pg(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    snprintf(sha, 65, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *svals[4] = {coll_id, sha, cc, co};
    if (!(r = db_admin_rows(c, SQL_SAME_CONTENT, 4, svals, what, err, errlen))) return -1;
    int same = PQntuples(r) > 0;
    if (same) snprintf(doc_id, 24, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (same) return 1;
    const char *dvals[2] = {coll_id, abs};
    if (!(r = db_admin_rows(c, SQL_DROP_OLD_VERSION, 2, dvals, what, err, errlen))) return -1;
    size_t o = 0;
    replaced[0] = '\0';
    for (int i = 0; i < PQntuples(r) && o + 24 < rlen; i++)
        o += (size_t)snprintf(replaced + o, rlen - o, "%s%s", i ? ", " : "", PQgetvalue(r, i, 0));
    PQclear(r);
    return 0;
}

/* One file to store: its text, chunks and the document row's values (as
 * text for libpq). */
typedef struct ingest_doc {
    const char *collection, *path;
    const char *text;
    size_t tlen;
    const chunk_span_t *spans;
    size_t n;
    int md;
    char abs[PATH_MAX], size[24], cc[16], co[16];
} ingest_doc_t;

/* The collection's id (created when missing) into coll_id; -1 on error. */
static int collection_id(PGconn *conn, const ingest_doc_t *d, char *coll_id, size_t idlen,
                         const char *what, char *err, size_t errlen)
{
    const char *cvals[1] = {d->collection};
    if (db_admin_exec(conn, SQL_ENSURE_COLLECTION, 1, cvals, what, err, errlen) < 0) return -1;
    PGresult *r = db_admin_rows(conn, SQL_COLLECTION_ID, 1, cvals, what, err, errlen);
    if (!r) return -1;
    snprintf(coll_id, idlen, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    if (!coll_id[0])
        return db_admin_fail(err, errlen, "%s: collection \"%s\" vanished while ingesting", d->path,
                             d->collection);
    return 0;
}

/* The ingest transaction. 1: the same text chunked the same way is
 * already there (document doc_id), nothing stored; 0: stored as doc_id,
 * replacing the documents listed in replaced; -1 with err (rolled back). */
static int store_document(PGconn *conn, const ingest_doc_t *d, char *doc_id, char *replaced,
                          size_t rlen, char *err, size_t errlen)
{
    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "%s: cannot store the document", d->path);
    if (db_admin_exec(conn, "BEGIN", 0, NULL, what, err, errlen) < 0) return -1;

    char coll_id[24], sha[65];
    if (collection_id(conn, d, coll_id, sizeof coll_id, what, err, errlen) < 0) goto rollback;
    int same = find_same_or_drop_old(conn, coll_id, d->text, d->tlen, d->abs, d->cc, d->co, sha,
                                     doc_id, replaced, rlen, what, err, errlen);
    if (same < 0) goto rollback;
    if (same) {
        if (db_admin_exec(conn, "COMMIT", 0, NULL, what, err, errlen) < 0) goto rollback;
        return 1;
    }
    const char *slash = strrchr(d->path, '/');
    const char *dvals[8] = {coll_id,
                            slash ? slash + 1 : d->path,
                            d->md ? "text/markdown" : "text/plain",
                            d->size,
                            d->abs,
                            d->cc,
                            d->co,
                            sha};
    PGresult *r = db_admin_rows(conn, SQL_INSERT_DOCUMENT, 8, dvals, what, err, errlen);
    if (!r) goto rollback;
    snprintf(doc_id, 24, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (insert_chunks(conn, doc_id, coll_id, d->text, d->spans, d->n, !d->md, d->path, err,
                      errlen) < 0 ||
        db_admin_exec(conn, "COMMIT", 0, NULL, what, err, errlen) < 0)
        goto rollback;
    return 0;
rollback:
    db_admin_rollback(conn);
    return -1;
}

/* Chunks d->text into d->spans (malloc'd, the caller frees) and fills the
 * row values; -1 with err when there is nothing to index. */
static int prepare_document(ingest_doc_t *d, size_t file_len, const ragws_config_t *cfg,
                            chunk_span_t **spans, char *err, size_t errlen)
{
    size_t n = chunk_text(d->text, d->tlen, cfg->chunk_chars, cfg->chunk_overlap, NULL, 0);
    if (n == 0)
        return db_admin_fail(err, errlen, "%s: no text to index (the file is empty or blank)",
                             d->path);
    *spans = calloc(n, sizeof **spans);
    if (!*spans) return db_admin_fail(err, errlen, "%s: out of memory", d->path);
    chunk_text(d->text, d->tlen, cfg->chunk_chars, cfg->chunk_overlap, *spans, n);
    d->spans = *spans;
    d->n = n;
    d->md = is_markdown(d->path);
    if (!realpath(d->path, d->abs)) snprintf(d->abs, sizeof d->abs, "%s", d->path);
    snprintf(d->size, sizeof d->size, "%zu", file_len);
    snprintf(d->cc, sizeof d->cc, "%u", cfg->chunk_chars);
    snprintf(d->co, sizeof d->co, "%u", cfg->chunk_overlap);
    return 0;
}

int db_ingest_file(PGconn *conn, const char *collection, const char *path,
                   const ragws_config_t *cfg, FILE *out, char *err, size_t errlen)
{
    size_t clen = strlen(collection);
    if (clen == 0 || clen > COLLECTION_MAX_BYTES || !utf8_valid(collection, clen, NULL))
        return db_admin_fail(err, errlen, "bad collection name \"%s\" (1..%d bytes of UTF-8 text)",
                             collection, COLLECTION_MAX_BYTES);
    char *buf = NULL;
    size_t len = 0;
    if (read_file(path, &buf, &len, err, errlen) < 0) return -1;

    ingest_doc_t d = {.collection = collection, .path = path};
    chunk_span_t *spans = NULL;
    char doc_id[24], replaced[64] = "";
    int rc = -1;
    if (text_of(path, buf, len, &d.text, &d.tlen, err, errlen) == 0 &&
        prepare_document(&d, len, cfg, &spans, err, errlen) == 0)
        rc = store_document(conn, &d, doc_id, replaced, sizeof replaced, err, errlen);
    if (rc == 1 && out) {
        fprintf(out, "unchanged %s in %s: already document %s, skipped\n", path, collection,
                doc_id);
        fflush(out);
    } else if (rc == 0 && out) {
        fprintf(out, "ingested %s into %s: document %s, %zu chunk%s%s%s%s\n", path, collection,
                doc_id, d.n, d.n == 1 ? "" : "s", replaced[0] ? " (replaces document " : "",
                replaced, replaced[0] ? ")" : "");
        fflush(out);
    }
    free(spans);
    free(buf);
    return rc < 0 ? -1 : 0;
}
