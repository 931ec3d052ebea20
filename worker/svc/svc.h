/* The services' process context: what worker/svc needs from the worker
 * process, set once by worker/worker.c (the composition root) before the
 * loop runs and never changed afterwards (the values it points at, such
 * as the drain flag, belong to the worker and change). Services read it
 * through `svc`; nothing passes arguments through it.
 *
 *   loop     the worker's event loop (owned by worker.c)
 *   cfg      the configuration (owned by the master, read-only)
 *   stats    this worker's counters in shared memory (shm/stats.h)
 *   shm      the shared region (ingestion places and counts, shm/region.h)
 *   slot_idx this worker's position (names jobs and conversations)
 *   draining points at the worker's drain flag: non-zero once a drain
 *            started (a new RAG job then fails SHUTTING_DOWN)
 *   publish  publish into the broadcast ring (shm/ring.h): 0, or -1 when
 *            the record is too large
 *
 * worker/svc and io/ never include worker/worker.h: this is their whole
 * view of the process. */
#ifndef RAGWS_WORKER_SVC_SVC_H
#define RAGWS_WORKER_SVC_SVC_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/loop.h"
#include "shm/region.h"
#include "shm/stats.h"

typedef struct svc_ctx {
    loop_t *loop;
    const ragws_config_t *cfg;
    worker_stats_t *stats;
    shm_region_t *shm;
    int slot_idx;
    const int *draining;
    int (*publish)(const char *channel, size_t clen, const char *payload, size_t plen);
} svc_ctx_t;

extern svc_ctx_t *svc;

#endif
