/* `ragws ingest`'s SQL (blocking libpq, the CLI only): is a file's content
 * already in a collection, and storing one document with its chunks in one
 * transaction.
 *
 * A file's identity is the SHA-256 of its bytes (hex), kept in
 * documents.content_hash when the schema has that column (sql/005) and in
 * documents.metadata->>'sha256' in every case. The same content chunked
 * the same way (rag.chunk_chars, rag.chunk_overlap; or a document stored
 * by the server, which records no chunking) is "unchanged"; the same
 * content chunked otherwise, and earlier versions of the same file (same
 * absolute path, stored by `ragws ingest`), are replaced. Ingestions into
 * one collection take turns (an advisory lock in the transaction). */
#ifndef RAGWS_CLI_INGEST_STORE_H
#define RAGWS_CLI_INGEST_STORE_H

#include <libpq-fe.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "base/chunk.h"

/* One file to store. Strings belong to the caller. */
typedef struct ingest_doc {
    const char *collection;
    const char *path;     /* as given (messages) */
    const char *abs;      /* absolute path (replaces earlier versions) */
    const char *filename; /* stored name */
    const char *content_type;
    const char *sha;  /* hex SHA-256 of the file */
    const char *text; /* pages joined by form feeds */
    const chunk_span_t *spans;
    size_t n;
    int paged; /* chunks carry their page (else page is NULL) */
    uint32_t pages;
    uint64_t size;
    uint32_t chunk_chars, chunk_overlap;
} ingest_doc_t;

/* 1: unchanged (document id in doc_id, 24 bytes); 0: not there (or
 * chunked otherwise); -1 with err. */
int ingest_store_find(PGconn *c, const ingest_doc_t *d, char *doc_id, char *err, size_t errlen);
/* 0: stored as doc_id, replacing the documents listed in replaced ("12,
 * 14"); 1: unchanged after all (another run stored it first); -1 with err
 * (rolled back). */
int ingest_store(PGconn *c, const ingest_doc_t *d, char *doc_id, char *replaced, size_t rlen,
                 char *err, size_t errlen);

#endif
