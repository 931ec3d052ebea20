/* `ragws ingest COLLECTION FILE...` (SPEC S5): files into a collection
 * through the server's extractors (PDF with pages, scanned PDF and images
 * by OCR, HTML, text, Markdown: worker/svc/extract.h) and chunker
 * (base/chunk.h, rag.chunk_chars and rag.chunk_overlap; chunks keep their
 * page), over a blocking connection of cli/db_admin.h. Runs in the CLI
 * only, never in a worker.
 *
 * Every file is tried, one transaction each. stdout gets one line per
 * file: "ingested FILE into COLLECTION: document N, K chunks, P pages[
 * (replaces document M)]" or "unchanged FILE in COLLECTION: already
 * document N, skipped" (the same bytes, SHA-256, are in the collection and
 * were chunked the same way: nothing is extracted again). stderr gets
 * "ragws ingest: FILE: why" for each failure, a progress line while it
 * works when stderr is a terminal, and a summary at the end (files
 * indexed, skipped, failed; pages, chunks, time; which files failed). */
#ifndef RAGWS_CLI_INGEST_H
#define RAGWS_CLI_INGEST_H

#include <libpq-fe.h>

#include "base/config.h"

/* Returns the exit status: 0 all indexed or skipped, 1 when a file failed
 * (or the collection name is bad), 130 when SIGINT/SIGTERM stopped it (the
 * running extractor's children are killed; the file being read is not
 * stored). */
int db_ingest_files(PGconn *conn, const char *collection, char *const *files, int n_files,
                    const ragws_config_t *cfg);

#endif
