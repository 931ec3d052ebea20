/* `ragws ingest`'s SQL (cli/ingest_store.h). */
#include "cli/ingest_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cli/db_admin.h"

/* documents.content_hash comes with sql/005; older schemas keep the hash
 * in metadata only. */
static const char SQL_HAS_HASH_COLUMN[] =
    "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'documents'::regclass"
    " AND attname = 'content_hash' AND NOT attisdropped)";
static const char SQL_ENSURE_COLLECTION[] =
    "INSERT INTO collections (name) VALUES ($1) ON CONFLICT (name) DO NOTHING";
static const char SQL_COLLECTION_ID[] = "SELECT id FROM collections WHERE name = $1";
/* Ingestions into one collection take turns, so two runs of the same file
 * cannot both find it missing. */
static const char SQL_LOCK_COLLECTION[] =
    "SELECT pg_advisory_xact_lock(1918985063, $1::bigint::int)";
/* The same bytes in the collection: id and the chunking it was stored with
 * (NULL when the server stored it). A failed document does not count. */
static const char SQL_SAME_CONTENT_H[] =
    "SELECT d.id, d.metadata->>'chunk_chars', d.metadata->>'chunk_overlap' FROM documents d"
    " JOIN collections c ON c.id = d.collection_id WHERE c.name = $1"
    " AND (d.content_hash = $2 OR d.metadata->>'sha256' = $2) AND d.status <> 'failed'"
    " ORDER BY d.id LIMIT 1";
static const char SQL_SAME_CONTENT[] =
    "SELECT d.id, d.metadata->>'chunk_chars', d.metadata->>'chunk_overlap' FROM documents d"
    " JOIN collections c ON c.id = d.collection_id WHERE c.name = $1"
    " AND d.metadata->>'sha256' = $2 AND d.status <> 'failed' ORDER BY d.id LIMIT 1";
/* Earlier versions of the file, and its content stored otherwise (same
 * hash: the unique index allows one). */
static const char SQL_DROP_OLD_H[] =
    "DELETE FROM documents WHERE collection_id = $1::bigint AND ((metadata->>'path' = $2"
    " AND metadata->>'source' = 'ragws ingest') OR content_hash = $3 OR metadata->>'sha256' = $3)"
    " RETURNING id";
static const char SQL_DROP_OLD[] =
    "DELETE FROM documents WHERE collection_id = $1::bigint AND ((metadata->>'path' = $2"
    " AND metadata->>'source' = 'ragws ingest') OR metadata->>'sha256' = $3) RETURNING id";
#define DOC_COLUMNS                                                                                \
    "INSERT INTO documents (collection_id, filename, content_type, size_bytes, status, metadata"
#define DOC_VALUES                                                                                 \
    " VALUES ($1::bigint, $2, $3, $4::bigint, 'indexed',"                                          \
    "  jsonb_build_object('source', 'ragws ingest', 'path', $5::text, 'chunk_chars', $6::int,"     \
    "   'chunk_overlap', $7::int, 'sha256', $8::text, 'pages', $9::int)"
static const char SQL_INSERT_DOCUMENT_H[] =
    DOC_COLUMNS ", content_hash)" DOC_VALUES ", $8) RETURNING id";
static const char SQL_INSERT_DOCUMENT[] = DOC_COLUMNS ")" DOC_VALUES ") RETURNING id";
static const char SQL_COPY_CHUNKS[] =
    "COPY chunks (document_id, collection_id, ordinal, page, content) FROM STDIN";
#define COPY_FLUSH (256 * 1024)

/* 1 when documents.content_hash exists (asked once per connection). */
static int has_hash_column(PGconn *c)
{
    static PGconn *asked;
    static int has;
    if (asked == c) return has;
    PGresult *r = PQexec(c, SQL_HAS_HASH_COLUMN);
    has = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
          strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    asked = c;
    return has;
}

static void num(char *buf, size_t len, unsigned long long v) { snprintf(buf, len, "%llu", v); }

int ingest_store_find(PGconn *c, const ingest_doc_t *d, char *doc_id, char *err, size_t errlen)
{
    char what[PATH_MAX + 64], cc[16], co[16];
    snprintf(what, sizeof what, "%s: cannot look for the document", d->path);
    const char *vals[2] = {d->collection, d->sha};
    PGresult *r = db_admin_rows(c, has_hash_column(c) ? SQL_SAME_CONTENT_H : SQL_SAME_CONTENT, 2,
                                vals, what, err, errlen);
    if (!r) return -1;
    int found = PQntuples(r) > 0, same = 0;
    if (found) {
        num(cc, sizeof cc, d->chunk_chars);
        num(co, sizeof co, d->chunk_overlap);
        snprintf(doc_id, 24, "%s", PQgetvalue(r, 0, 0));
        /* Stored by the server (no chunking recorded), or chunked the same way. */
        same = PQgetisnull(r, 0, 1) ||
               (strcmp(PQgetvalue(r, 0, 1), cc) == 0 && strcmp(PQgetvalue(r, 0, 2), co) == 0);
    }
    PQclear(r);
    return same;
}

/* One chunk as a COPY text-format row (content escaped; a NUL byte, which
 * text cannot hold, is dropped). */
static int copy_row(buf_t *row, const ingest_doc_t *d, const char *doc_id, const char *coll_id,
                    size_t i, unsigned long page)
{
    char pg[24];
    num(pg, sizeof pg, page);
    if (buf_printf(row, "%s\t%s\t%zu\t%s\t", doc_id, coll_id, i, d->paged ? pg : "\\N") < 0)
        return -1;
    const char *t = d->text + d->spans[i].start;
    for (size_t k = 0; k < d->spans[i].len; k++) {
        char ch = t[k];
        const char *esc = ch == '\\'   ? "\\\\"
                          : ch == '\n' ? "\\n"
                          : ch == '\r' ? "\\r"
                          : ch == '\t' ? "\\t"
                          : ch == '\f' ? "\\f"
                                       : NULL;
        int rc = esc ? buf_append_str(row, esc) : ch ? buf_append_char(row, ch) : 0;
        if (rc < 0) return -1;
    }
    return buf_append_char(row, '\n');
}

/* Stores the chunks with one COPY; the caller has begun the transaction. */
static int insert_chunks(PGconn *c, const ingest_doc_t *d, const char *doc_id, const char *coll_id,
                         const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, SQL_COPY_CHUNKS);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        db_admin_fail_pg(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    buf_t row = BUF_INIT(0); /* a chunk escaped at most doubles; sent every COPY_FLUSH bytes */
    unsigned long page = 1;
    size_t scanned = 0; /* form feeds counted up to here */
    int rc = 0;
    for (size_t i = 0; i < d->n && rc == 0; i++) {
        for (; scanned < d->spans[i].start; scanned++)
            if (d->text[scanned] == '\f') page++;
        if (copy_row(&row, d, doc_id, coll_id, i, page) < 0) rc = -1;
        if (rc == 0 && (row.len >= COPY_FLUSH || i + 1 == d->n)) {
            if (PQputCopyData(c, row.data, (int)row.len) != 1) rc = -1;
            buf_reset(&row);
        }
    }
    buf_free(&row);
    if (PQputCopyEnd(c, rc == 0 ? NULL : "out of memory") != 1) rc = -1;
    r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        db_admin_fail_pg(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        rc = -1;
    }
    PQclear(r);
    while ((r = PQgetResult(c))) PQclear(r);
    return rc;
}

/* The collection's id (created when missing) into coll_id, then its lock. */
static int lock_collection(PGconn *c, const ingest_doc_t *d, char *coll_id, const char *what,
                           char *err, size_t errlen)
{
    const char *cvals[1] = {d->collection};
    if (db_admin_exec(c, SQL_ENSURE_COLLECTION, 1, cvals, what, err, errlen) < 0) return -1;
    PGresult *r = db_admin_rows(c, SQL_COLLECTION_ID, 1, cvals, what, err, errlen);
    if (!r) return -1;
    snprintf(coll_id, 24, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    if (!coll_id[0])
        return db_admin_fail(err, errlen, "%s: collection \"%s\" vanished while ingesting", d->path,
                             d->collection);
    const char *lvals[1] = {coll_id};
    if (!(r = db_admin_rows(c, SQL_LOCK_COLLECTION, 1, lvals, what, err, errlen))) return -1;
    PQclear(r);
    return 0;
}

/* Deletes what the new document replaces; their ids into replaced. */
static int drop_replaced(PGconn *c, const ingest_doc_t *d, const char *coll_id, char *replaced,
                         size_t rlen, const char *what, char *err, size_t errlen)
{
    const char *vals[3] = {coll_id, d->abs, d->sha};
    PGresult *r = db_admin_rows(c, has_hash_column(c) ? SQL_DROP_OLD_H : SQL_DROP_OLD, 3, vals,
                                what, err, errlen);
    if (!r) return -1;
    size_t o = 0;
    replaced[0] = '\0';
    for (int i = 0; i < PQntuples(r) && o + 24 < rlen; i++)
        o += (size_t)snprintf(replaced + o, rlen - o, "%s%s", i ? ", " : "", PQgetvalue(r, i, 0));
    PQclear(r);
    return 0;
}

static int insert_document(PGconn *c, const ingest_doc_t *d, const char *coll_id, char *doc_id,
                           const char *what, char *err, size_t errlen)
{
    char size[24], cc[16], co[16], pages[16];
    num(size, sizeof size, d->size);
    num(cc, sizeof cc, d->chunk_chars);
    num(co, sizeof co, d->chunk_overlap);
    num(pages, sizeof pages, d->pages);
    const char *vals[9] = {coll_id, d->filename, d->content_type, size, d->abs,
                           cc,      co,          d->sha,          pages};
    PGresult *r = db_admin_rows(c, has_hash_column(c) ? SQL_INSERT_DOCUMENT_H : SQL_INSERT_DOCUMENT,
                                9, vals, what, err, errlen);
    if (!r) return -1;
    snprintf(doc_id, 24, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int ingest_store(PGconn *c, const ingest_doc_t *d, char *doc_id, char *replaced, size_t rlen,
                 char *err, size_t errlen)
{
    char what[PATH_MAX + 64], coll_id[24];
    snprintf(what, sizeof what, "%s: cannot store the document", d->path);
    if (db_admin_exec(c, "BEGIN", 0, NULL, what, err, errlen) < 0) return -1;
    if (lock_collection(c, d, coll_id, what, err, errlen) < 0) goto rollback;
    /* Under the lock: another run may have stored it meanwhile. */
    int same = ingest_store_find(c, d, doc_id, err, errlen);
    if (same < 0) goto rollback;
    if (same) {
        if (db_admin_exec(c, "COMMIT", 0, NULL, what, err, errlen) < 0) goto rollback;
        return 1;
    }
    if (drop_replaced(c, d, coll_id, replaced, rlen, what, err, errlen) < 0 ||
        insert_document(c, d, coll_id, doc_id, what, err, errlen) < 0 ||
        insert_chunks(c, d, doc_id, coll_id, what, err, errlen) < 0 ||
        db_admin_exec(c, "COMMIT", 0, NULL, what, err, errlen) < 0)
        goto rollback;
    return 0;
rollback:
    db_admin_rollback(c);
    return -1;
}
