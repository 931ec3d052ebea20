/* Blocking PostgreSQL administration (SPEC S5): schema migrations, the
 * schema check at start-up, and file ingestion for `ragws ingest`.
 *
 * Everything here uses blocking libpq calls. It runs in the CLI and in the
 * master before it forks the workers, never inside a worker's event loop
 * (worker/db.c is the non-blocking client). */
#ifndef RAGWS_MASTER_DB_ADMIN_H
#define RAGWS_MASTER_DB_ADMIN_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdio.h>

#include "base/config.h"
#include "base/chunk.h"
#include "base/utf8.h" /* utf8_valid checks a file before it is chunked */
#include "io/pg_conninfo.h"

/* The migrations in sql/, embedded at build time by scripts/embed-sql.sh
 * (build/gen/migrations.c), ascending by version. */
struct migration {
    int version;      /* from the NNN_ prefix of the file name */
    const char *name; /* the rest of the file name, without .sql */
    const char *sql;  /* the whole file */
};
extern const struct migration ragws_migrations[];
extern const int ragws_n_migrations;

/* db_resolve_conninfo: io/pg_conninfo.h (the worker uses it too). */

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

/* Reads a text or Markdown file and stores it in COLLECTION (created when
 * missing) as one document with its chunks, in one transaction; chunk size
 * and overlap come from rag.chunk_chars and rag.chunk_overlap. Binary
 * content (a NUL byte or invalid UTF-8) is refused. Idempotent: when the
 * collection already holds a document with the same text (SHA-256 in
 * documents.metadata.sha256) chunked the same way, nothing is stored
 * ("unchanged FILE in COLLECTION: already document N, skipped"); otherwise
 * earlier versions of the same file (same absolute path) are deleted with
 * their chunks and the new one is stored ("ingested FILE into COLLECTION:
 * document N, K chunks[ (replaces document M)]"), to out (may be NULL).
 * Returns 0, or -1 with err set ("FILE: why"; nothing changed). */
int db_ingest_file(PGconn *conn, const char *collection, const char *path,
                   const ragws_config_t *cfg, FILE *out, char *err, size_t errlen);

#endif
