/* A worker process: one event loop owning its listener, its client
 * connections, its ring cursor and its subscriber table (see README,
 * "Architecture"). There is one worker per process, reachable as `wk`. */
#ifndef RAGWS_WORKER_WORKER_H
#define RAGWS_WORKER_WORKER_H

#include <stdint.h>

#include "base/config.h"
#include "shm/region.h"
#include "shm/ring.h"
#include "base/loop.h"
#include "worker/net/outbuf.h"

typedef struct conn conn_t;
typedef struct ip_table ip_table_t;

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
    char *scratch; /* socket reads of upgraded connections land here */
    size_t scratch_cap;

    conn_t *conns; /* every connection, for the sweep */
    uint32_t n_conns;
    conn_t *dirty; /* connections with output to flush before sleeping */
    ip_table_t *ips;

    outbuf_t *ping_frame; /* shared, pre-encoded */
    int draining;
    int stopping;
    uint64_t drain_deadline_ms;
    uint64_t sweep_every_ms;
    /* Set while an LLM token is being handed to an endpoint: frames sent
     * meanwhile are timed from the token's arrival (token latency stats). */
    uint64_t token_stamp_ns;
} worker_t;

extern worker_t *wk;

/* Runs the worker; never returns (exits the process). listen_fd is the
 * master's listening socket of this worker's position (master/listener.h). */
void worker_main(const ragws_config_t *cfg, shm_region_t *shm, int slot_idx, uint32_t generation,
                 int listen_fd);

/* Publish into the ring (any endpoint, REST or WebSocket). */
int worker_publish(const char *channel, size_t clen, const char *payload, size_t plen);

#endif
