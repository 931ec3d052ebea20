#include "shm/region.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define SHM_MAGIC 0x72616777735f3031ull /* "ragws_01" */

static size_t align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

shm_region_t *shm_create(size_t ring_bytes)
{
    size_t ring_off = align_up(sizeof(shm_region_t), 4096);
    size_t total = ring_off + align_up(ring_size_for(ring_bytes), 4096);

    /* memfd rather than MAP_ANONYMOUS so the region could be handed to a
     * process that is not our child (and shows up named in /proc/maps). */
    int fd = memfd_create("ragws-shm", MFD_CLOEXEC);
    if (fd < 0) return NULL;
    if (ftruncate(fd, (off_t)total) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    void *mem = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (mem == MAP_FAILED) {
        errno = e;
        return NULL;
    }
    shm_region_t *shm = mem;
    memset(shm, 0, sizeof *shm);
    shm->magic = SHM_MAGIC;
    shm->total_size = total;
    shm->ring_offset = ring_off;
    int rc = ring_init((char *)mem + ring_off, ring_bytes);
    if (rc < 0) {
        munmap(mem, total);
        errno = -rc;
        return NULL;
    }
    shm->master_eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (shm->master_eventfd < 0) return NULL;
    for (int i = 0; i < SHM_MAX_SLOTS; i++) {
        shm->slots[i].eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (shm->slots[i].eventfd < 0) return NULL;
        /* Datagrams carry a client socket and the bytes read from it to the
         * worker that owns its Socket.IO session (worker/handoff.c). */
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                       shm->slots[i].handoff_fd) < 0)
            return NULL;
        int big = 4 * 1024 * 1024;
        if (setsockopt(shm->slots[i].handoff_fd[1], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) <
            0)
            setsockopt(shm->slots[i].handoff_fd[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        if (setsockopt(shm->slots[i].handoff_fd[0], SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) <
            0)
            setsockopt(shm->slots[i].handoff_fd[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    }
    return shm;
}

ring_t *shm_ring(shm_region_t *shm) { return ring_from_mem((char *)shm + shm->ring_offset); }

static void wake_fd(int fd)
{
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof one);
    (void)n; /* EAGAIN means the counter is saturated: already awake */
}

int shm_publish(shm_region_t *shm, const char *channel, size_t channel_len, const void *payload,
                size_t payload_len)
{
    int rc = ring_publish(shm_ring(shm), channel, channel_len, payload, payload_len, NULL);
    if (rc < 0) return rc;
    atomic_fetch_add_explicit(&shm->publishes, 1, memory_order_relaxed);
    SHM_FOR_EACH_SLOT(shm, i, SHM_LIVE)
    {
        shm_slot_t *s = &shm->slots[i];
        /* Only the first publisher after the worker's last drain writes. */
        if (!atomic_exchange(&s->wake_pending, 1)) wake_fd(s->eventfd);
    }
    return 0;
}

void shm_slot_wake_ack(shm_slot_t *slot)
{
    uint64_t v;
    ssize_t n = read(slot->eventfd, &v, sizeof v);
    (void)n;
    /* exchange is a full barrier: the ring read that follows cannot be
     * ordered before it, so a record whose publisher saw wake_pending == 1
     * is seen by this drain. */
    atomic_exchange(&slot->wake_pending, 0);
}

void shm_notify_master(shm_region_t *shm) { wake_fd(shm->master_eventfd); }

void shm_stats_total(shm_region_t *shm, worker_stats_t *out)
{
    memset(out, 0, sizeof *out);
    stats_accumulate(out, &shm->retired, 1);
    SHM_FOR_EACH_SLOT(shm, i, SHM_LIVE) stats_accumulate(out, &shm->slots[i].stats, 0);
}

void shm_slot_retire(shm_region_t *shm, int idx)
{
    shm_slot_t *s = &shm->slots[idx];
    /* The places its tasks held: their leases lapse and another worker
     * claims them again. */
    for (uint64_t n = stats_get(&s->stats.ingest_running); n > 0; n--) shm_ingest_release(shm);
    stats_accumulate(&shm->retired, &s->stats, 1);
    memset(&s->stats, 0, sizeof s->stats);
    atomic_store(&s->pid, 0);
    atomic_store(&s->wake_pending, 0);
    atomic_store(&s->state, SLOT_FREE);
    /* Drop any stale wake-up so the next owner starts clean. */
    uint64_t v;
    ssize_t n = read(s->eventfd, &v, sizeof v);
    (void)n;
}

int shm_slot_next(const shm_region_t *shm, int after, unsigned mask)
{
    for (int i = after + 1; i < SHM_MAX_SLOTS; i++) {
        uint32_t st = atomic_load(&shm->slots[i].state);
        if (st < 32 && (mask & (1u << st))) return i;
    }
    return -1;
}

int shm_ingest_reserve(shm_region_t *shm, uint32_t max)
{
    uint32_t cur = atomic_load(&shm->ingest.running);
    while (cur < max)
        if (atomic_compare_exchange_weak(&shm->ingest.running, &cur, cur + 1)) return 1;
    return 0;
}

void shm_ingest_release(shm_region_t *shm)
{
    uint32_t cur = atomic_load(&shm->ingest.running);
    while (cur > 0 && !atomic_compare_exchange_weak(&shm->ingest.running, &cur, cur - 1)) {
    }
}

void shm_ingest_report(shm_region_t *shm, uint64_t now_ms, uint64_t queued, uint64_t active,
                       uint64_t completed, uint64_t failed, uint64_t cancelled)
{
    shm_ingest_t *g = &shm->ingest;
    atomic_store(&g->queued, queued);
    atomic_store(&g->active, active);
    atomic_store(&g->completed, completed);
    atomic_store(&g->failed, failed);
    atomic_store(&g->cancelled, cancelled);
    atomic_store(&g->counts_ms, now_ms);
}

int shm_snapshot_set(shm_region_t *shm, int kind, const char *data, size_t len)
{
    if (kind < 0 || kind >= SHM_SNAP_KINDS || len >= SHM_SNAPSHOT_MAX) return -1;
    shm_snapshot_t *s = &shm->snapshots[kind];
    uint64_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed); /* odd: being written */
    atomic_thread_fence(memory_order_release);
    memcpy(s->data, data, len);
    atomic_store_explicit(&s->len, (uint32_t)len, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
    return 0;
}

int shm_snapshot_get(shm_region_t *shm, int kind, char *out, size_t cap)
{
    if (kind < 0 || kind >= SHM_SNAP_KINDS) return 0;
    shm_snapshot_t *s = &shm->snapshots[kind];
    /* The master rewrites it every dashboard.metrics_interval (>= 100 ms):
     * a few retries always find a quiet moment. */
    for (int tries = 0; tries < 1000; tries++) {
        uint64_t before = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (before & 1) continue;
        uint32_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
        if (len >= SHM_SNAPSHOT_MAX) continue;
        int fits = (size_t)len < cap;
        if (fits) memcpy(out, s->data, len);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) != before) continue;
        if (!fits) return -1;
        out[len] = 0;
        return (int)len;
    }
    return 0;
}
