/* A worker process: one event loop owning its listener, its client
 * connections, its ring cursor and its subscriber table (see README,
 * "Architecture"). worker.c is the composition root: it fills the
 * process contexts of the layers (net for worker/net), gives the
 * transport the route table and the auth hooks of worker/api, starts the
 * services and runs the loop. */
#ifndef RAGWS_WORKER_WORKER_H
#define RAGWS_WORKER_WORKER_H

#include <stdint.h>

#include "base/config.h"
#include "shm/region.h"
#include "shm/ring.h"
#include "base/loop.h"

typedef struct worker {
    loop_t *loop;
    const ragws_config_t *cfg;
    shm_region_t *shm;
    shm_slot_t *slot;
    worker_stats_t *stats;
    int slot_idx;
    uint32_t generation;

    int listen_fd;
    loop_watch_t listen_watch;
    loop_watch_t wake_watch;
    loop_timer_t sweep_timer;
    loop_timer_t ring_again; /* continue a large ring drain next iteration */

    ring_reader_t reader;
    char *ring_buf;
    size_t ring_buf_cap;

    int draining; /* 1 answers finishing, 2 closing; mirrored in net->draining */
    int stopping;
    uint64_t drain_deadline_ms;
    uint64_t sweep_every_ms;
} worker_t;

/* The worker's own state (worker.c). The transport's is net (worker/net/
 * net.h); files outside worker.c that still read wk (engineio.c,
 * socketio.c, rest_metrics.c, rag.c, io/pg.c) move to their layer's
 * context as the restructure goes on. */
extern worker_t *wk;

/* Runs the worker; never returns (exits the process). listen_fd is the
 * master's listening socket of this worker's position (master/listener.h). */
void worker_main(const ragws_config_t *cfg, shm_region_t *shm, int slot_idx, uint32_t generation,
                 int listen_fd);

/* Publish into the ring (net_publish, worker/net/pubsub.h). */
int worker_publish(const char *channel, size_t clen, const char *payload, size_t plen);

#endif
