/* `ragws ingest`'s extraction: the server's extractors (worker/svc/
 * extract.h) run on an event loop of the CLI's own, one file at a time.
 *
 * ingest_extract_init sets the services' context (worker/svc/svc.h) for
 * the CLI: a loop, the configuration, nothing shared (no ring, no shm).
 * While it is set up, SIGINT and SIGTERM are read on that loop: they
 * cancel the running extraction (its children are killed) and make
 * ingest_extract return 1. The text of a file is collected in t->text,
 * pages separated by form feeds (page i follows the (i-1)th form feed),
 * bounded by ingest.max_extract_bytes; t belongs to the caller, who frees
 * it with ingest_text_free. */
#ifndef RAGWS_CLI_INGEST_EXTRACT_H
#define RAGWS_CLI_INGEST_EXTRACT_H

#include <stdint.h>

#include "base/buf.h"
#include "base/config.h"
#include "worker/svc/extract.h"

#define INGEST_LOG_TAIL 3

typedef struct ingest_text {
    buf_t text;
    uint32_t pages;
    enum extract_type type;
    /* the last warnings (a child's stderr), shown when the file fails */
    char tail[INGEST_LOG_TAIL][256];
    int n_tail;
} ingest_text_t;

typedef void (*ingest_progress_fn)(void *ud, const char *stage, uint32_t done, uint32_t total,
                                   const char *message);

int ingest_extract_init(const ragws_config_t *cfg, char *err, size_t errlen);
void ingest_extract_shutdown(void);
/* 0: extracted (t filled); 1: interrupted; -1: err says why. */
int ingest_extract(const char *path, ingest_text_t *t, ingest_progress_fn fn, void *ud, char *err,
                   size_t errlen);
void ingest_text_free(ingest_text_t *t);
/* Non-zero once SIGINT or SIGTERM arrived. */
int ingest_interrupted(void);

#endif
