/* The shared-memory region: created by the master before it forks, so every
 * process maps it at the same address and inherits the same eventfds.
 *
 *   [ header | slot 0 .. slot N-1 | ring (shm/ring.c) ]
 *
 * A slot belongs to one worker process at a time: its pid, state, eventfd
 * (the wake-up for new ring records) and statistics. */
#ifndef RAGWS_SHM_REGION_H
#define RAGWS_SHM_REGION_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/ring.h"
#include "shm/stats.h"

/* Two generations of the largest worker count (64) during a reload. */
#define SHM_MAX_SLOTS 128

enum slot_state {
    SLOT_FREE = 0,
    SLOT_STARTING = 1, /* forked, not yet listening */
    SLOT_READY = 2,    /* listening */
    SLOT_DRAINING = 3, /* listener closed, finishing its clients */
};

typedef struct shm_slot {
    _Atomic int32_t pid;
    _Atomic uint32_t state;
    _Atomic uint32_t generation;
    _Atomic uint32_t wake_pending; /* coalesces eventfd writes */
    _Atomic uint64_t started_ms;
    _Atomic uint64_t heartbeat_ms; /* worker's loop clock, for hang detection */
    _Atomic uint32_t db_ok;        /* worker's PostgreSQL connection is up */
    int eventfd;
    int handoff_fd[2]; /* [0] read by the owner, [1] written by anyone: sockets handed over */
    worker_stats_t stats;
} shm_slot_t;

/* Ingestion on this node. `running` counts claimed tasks of every worker
 * (the ingest.max_parallel bound): a worker reserves before it claims and
 * releases when the task ends; a dead worker's reservations (its
 * ingest_running gauge) are released when its slot is retired. The
 * counts of the tasks table (all nodes) are the latest any worker read
 * while polling the queue, with the time it read them. */
typedef struct shm_ingest {
    _Atomic uint32_t running;
    _Atomic uint64_t counts_ms; /* loop clock ms of the last report; 0: never */
    _Atomic uint64_t queued, active, completed, failed, cancelled;
} shm_ingest_t;

/* The latest encoded message of a kind the master publishes periodically
 * (dashboard_update, metrics), for what a client gets on connect before the
 * next one. One writer (the master), any number of readers: a seqlock, seq
 * odd while the master writes; a reader that saw it change retries. */
#define SHM_SNAPSHOT_MAX 2048
enum shm_snapshot_kind { SHM_SNAP_DASHBOARD = 0, SHM_SNAP_METRICS, SHM_SNAP_KINDS };

typedef struct shm_snapshot {
    _Atomic uint64_t seq;
    _Atomic uint32_t len; /* 0: none yet */
    char data[SHM_SNAPSHOT_MAX];
} shm_snapshot_t;

typedef struct shm_region {
    uint64_t magic;
    size_t total_size;
    size_t ring_offset;
    int master_eventfd;         /* workers poke the master on state changes */
    _Atomic uint64_t publishes; /* records published, all processes */
    worker_stats_t retired;     /* counters of workers that have exited */
    shm_ingest_t ingest;
    shm_snapshot_t snapshots[SHM_SNAP_KINDS];
    shm_slot_t slots[SHM_MAX_SLOTS];
} shm_region_t;

/* Slot iteration (instead of a loop over SHM_MAX_SLOTS in every file):
 *
 *   for (int i = shm_slot_next(shm, -1, SHM_LIVE); i >= 0; i = shm_slot_next(shm, i, SHM_LIVE))
 *
 * or SHM_FOR_EACH_SLOT(shm, i, SHM_LIVE) { ... shm->slots[i] ... }. The
 * filter is a mask of (1 << state); SHM_ANY includes free slots. States are
 * read atomically once per step: a slot may change state right after. */
#define SHM_STATE(st) (1u << (st))
#define SHM_ANY       0xFu
#define SHM_LIVE      (SHM_STATE(SLOT_STARTING) | SHM_STATE(SLOT_READY) | SHM_STATE(SLOT_DRAINING))
#define SHM_SERVING   (SHM_STATE(SLOT_READY) | SHM_STATE(SLOT_DRAINING))

/* The index of the first slot after `after` (-1 to start) whose state is
 * in `mask`, or -1 when there is none. */
int shm_slot_next(const shm_region_t *shm, int after, unsigned mask);

#define SHM_FOR_EACH_SLOT(shm, i, mask)                                                            \
    for (int i = shm_slot_next((shm), -1, (mask)); i >= 0; i = shm_slot_next((shm), i, (mask)))

/* Create the region (memfd + MAP_SHARED) with a ring of ring_bytes and one
 * eventfd per slot. Returns NULL with errno set. */
shm_region_t *shm_create(size_t ring_bytes);

ring_t *shm_ring(shm_region_t *shm);

/* Append to the ring and wake every live worker (at most one eventfd write
 * per worker until it drains). Returns ring_publish's result. */
int shm_publish(shm_region_t *shm, const char *channel, size_t channel_len, const void *payload,
                size_t payload_len);

/* A worker calls this before draining the ring after its eventfd fired. */
void shm_slot_wake_ack(shm_slot_t *slot);

/* Poke the master (state change of a slot). */
void shm_notify_master(shm_region_t *shm);

/* Sum of live slots' stats plus the retired counters. */
void shm_stats_total(shm_region_t *shm, worker_stats_t *out);

/* The master folds a dead worker's counters into `retired` and frees the slot. */
void shm_slot_retire(shm_region_t *shm, int idx);

/* Take one of max ingestion places of the node: 1, or 0 when all are in
 * use. The caller adds 1 to its ingest_running gauge on success. */
int shm_ingest_reserve(shm_region_t *shm, uint32_t max);
void shm_ingest_release(shm_region_t *shm);
/* The tasks table's counts by state, as one worker just read them. */
void shm_ingest_report(shm_region_t *shm, uint64_t now_ms, uint64_t queued, uint64_t active,
                       uint64_t completed, uint64_t failed, uint64_t cancelled);

/* The master stores the latest message of a kind (len < SHM_SNAPSHOT_MAX,
 * else -1 and the previous one stays). */
int shm_snapshot_set(shm_region_t *shm, int kind, const char *data, size_t len);
/* A copy of it into out (NUL-terminated): its length, 0 when there is none
 * yet (or a write kept tearing it), -1 when cap is too small. */
int shm_snapshot_get(shm_region_t *shm, int kind, char *out, size_t cap);

#endif
