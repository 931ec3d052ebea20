/* `ragws ingest COLLECTION FILE...` (SPEC S5): text and Markdown files
 * into a collection, over a blocking connection of cli/db_admin.h. Runs in
 * the CLI only, never in a worker. */
#ifndef RAGWS_CLI_INGEST_H
#define RAGWS_CLI_INGEST_H

#include <libpq-fe.h>
#include <stdio.h>

#include "base/config.h"

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
