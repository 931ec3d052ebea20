/* Broadcast ring in shared memory. See ring.h for the contract.
 *
 * Memory handed to ring_init() (size from ring_size_for()):
 *
 *   +-------------+---------------------------+-------------------------+
 *   | struct ring | side index                | data area               |
 *   | (header)    | index_slots x index_entry | capacity bytes (2^n)    |
 *   +-------------+---------------------------+-------------------------+
 *
 * The header stores offsets, never pointers: the mapping is not required to
 * live at the same address in every process.
 *
 * A record in the data area is
 *
 *   [seq u64][publish_ns u64][channel_len u32][payload_len u32]
 *   [channel bytes][payload bytes][padding to 8 bytes]
 *
 * and may wrap around the end of the area. Positions (reserve, head, tail
 * and the readers' pos) are monotonic 64 bit byte counts, the area byte of
 * position p being p & (capacity-1). At 10 GB/s they wrap after ~58 years,
 * so we don't care.
 *
 * Writers, always under the lock, keep these invariants:
 *
 *   tail <= head <= reserve
 *   reserve is the highest position any writer ever wrote (or is writing).
 *   Every record in [tail, head) is complete and intact, because
 *   reserve - tail <= capacity.
 *
 * A record starting at p is intact as long as reserve <= p + capacity: its
 * bytes are only overwritten by a write at p + capacity or later. That is
 * the whole lock free reading protocol: copy, then check reserve again.
 *
 * Readers copy bytes that a writer may be overwriting at the same time.
 * Like every seqlock this is formally a data race; it is made safe by never
 * trusting a byte before the reserve check that follows the copy, and by
 * validating lengths before they are used to index anything. */
#include "shm/ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* The atomics live in memory shared by processes: they must be real
 * lock-free instructions, not a lock private to one process. */
#if ATOMIC_LLONG_LOCK_FREE != 2 || ATOMIC_LONG_LOCK_FREE != 2 || ATOMIC_INT_LOCK_FREE != 2
#error "ring.c needs lock-free 32 and 64 bit atomics"
#endif

#define RING_MAGIC       0x31474e4952535752ULL /* "RWSRING1" */
#define RING_MIN_DATA    ((uint64_t)64 * 1024)
#define RING_MAX_DATA    ((uint64_t)1 << 32) /* keeps record lengths in u32 */
#define RING_MIN_SLOTS   ((uint64_t)1024)
#define RING_MAX_CHANNEL 255
#define RING_LAP_RETRIES 64 /* attempts to catch a stable tail, see ring_relocate() */

typedef struct rec_hdr {
    uint64_t seq;
    uint64_t publish_ns;
    uint32_t channel_len;
    uint32_t payload_len;
} rec_hdr_t;

#define HDR_SIZE ((uint64_t)sizeof(rec_hdr_t))
_Static_assert(sizeof(rec_hdr_t) == 24, "record header must have no padding");

/* Side index entry. Both fields are atomic: a reader may look at an entry
 * while the writer replaces it (see ring_seq_channel_hash()). */
typedef struct index_entry {
    _Atomic uint64_t seq;
    _Atomic uint32_t hash;
    uint32_t unused;
} index_entry_t;

struct ring {
    uint64_t magic;
    uint64_t capacity;    /* data area bytes, power of two */
    uint64_t index_slots; /* side index entries, power of two */
    uint64_t index_off;   /* from the start of this struct */
    uint64_t data_off;    /* from the start of this struct */
    pthread_mutex_t lock; /* process-shared, robust: serialises writers */

    _Atomic uint64_t reserve;  /* end of the furthest record ever reserved */
    _Atomic uint64_t head;     /* end of the last committed record */
    _Atomic uint64_t tail;     /* start of the oldest intact record */
    _Atomic uint64_t last_seq; /* seq of the record ending at head */
    _Atomic uint64_t recovered_locks;
};

typedef struct ring_geom {
    uint64_t capacity, index_slots, index_off, data_off, total;
} ring_geom_t;

/* ------------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------- */

static uint64_t pow2_at_least(uint64_t v, uint64_t min)
{
    uint64_t p = min;
    while (p < v) p <<= 1;
    return p;
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

/* Sizes and offsets for a ring of data_bytes. Returns -1 if too large. */
static int ring_geometry(size_t data_bytes, ring_geom_t *g)
{
    if ((uint64_t)data_bytes > RING_MAX_DATA) return -1;
    g->capacity = pow2_at_least(data_bytes, RING_MIN_DATA);
    g->index_slots = pow2_at_least(g->capacity / 64, RING_MIN_SLOTS);
    g->index_off = align_up(sizeof(struct ring), 64);
    g->data_off = g->index_off + g->index_slots * sizeof(index_entry_t);
    g->total = g->data_off + g->capacity;
    if (g->total > SIZE_MAX) return -1;
    return 0;
}

static char *ring_data(ring_t *r) { return (char *)r + r->data_off; }

static index_entry_t *ring_index(ring_t *r) { return (index_entry_t *)((char *)r + r->index_off); }

/* Bytes a record takes in the data area, padding included. */
static uint64_t rec_size(const rec_hdr_t *h)
{
    return align_up(HDR_SIZE + h->channel_len + h->payload_len, 8);
}

/* Could this header have been written by ring_publish()? Lengths are checked
 * before they are used: a torn header must never make us copy too much. */
static int hdr_sane(const ring_t *r, const rec_hdr_t *h)
{
    return h->channel_len >= 1 && h->channel_len <= RING_MAX_CHANNEL &&
           (uint64_t)h->channel_len + h->payload_len <= ring_max_record(r);
}

/* Copy len (<= capacity) bytes at position pos out of the data area, in two
 * parts when the range wraps around the end. */
static void copy_out(ring_t *r, uint64_t pos, void *dst, uint64_t len)
{
    uint64_t off = pos & (r->capacity - 1);
    uint64_t first = r->capacity - off;

    if (first > len) first = len;
    memcpy(dst, ring_data(r) + off, first);
    memcpy((char *)dst + first, ring_data(r), len - first);
}

static void copy_in(ring_t *r, uint64_t pos, const void *src, uint64_t len)
{
    uint64_t off = pos & (r->capacity - 1);
    uint64_t first = r->capacity - off;

    if (len == 0) return; /* src may be NULL for an empty payload */
    if (first > len) first = len;
    memcpy(ring_data(r) + off, src, first);
    memcpy(ring_data(r), (const char *)src + first, len - first);
}

/* True if a writer reserved over the record at pos, so whatever we copied
 * from it may be torn. The fence keeps the copy before the reserve load. */
static int overwritten(ring_t *r, uint64_t pos)
{
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&r->reserve, memory_order_acquire) > pos + r->capacity;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint32_t ring_channel_hash(const char *channel, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)channel[i];
        h *= 16777619u;
    }
    return h;
}

/* ------------------------------------------------------------------------
 * Setup
 * --------------------------------------------------------------------- */

size_t ring_size_for(size_t data_bytes)
{
    ring_geom_t g;
    return ring_geometry(data_bytes, &g) == 0 ? (size_t)g.total : 0;
}

int ring_init(void *mem, size_t data_bytes)
{
    ring_t *r = mem;
    ring_geom_t g;
    pthread_mutexattr_t attr;
    int err;

    if (!mem || (uintptr_t)mem % alignof(struct ring) != 0) return -EINVAL;
    if (ring_geometry(data_bytes, &g) != 0) return -EINVAL;

    /* Header and side index start zeroed: seq 0 is never used, so an empty
     * index entry never matches. The data area is only read below head, so
     * it needs no clearing (and stays untouched until used). */
    memset(mem, 0, g.data_off);
    r->capacity = g.capacity;
    r->index_slots = g.index_slots;
    r->index_off = g.index_off;
    r->data_off = g.data_off;

    if ((err = pthread_mutexattr_init(&attr)) != 0) return -err;
    if ((err = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED)) == 0 &&
        (err = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST)) == 0)
        err = pthread_mutex_init(&r->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    if (err != 0) return -err;

    r->magic = RING_MAGIC; /* before fork: no ordering needed */
    return 0;
}

ring_t *ring_from_mem(void *mem)
{
    ring_t *r = mem;
    return (r && r->magic == RING_MAGIC) ? r : NULL;
}

size_t ring_max_record(const ring_t *r)
{
    /* A record is at most a quarter of the ring, so the ring always holds
     * several of them and tail never has to catch up with head. */
    return (size_t)(r->capacity / 4 - HDR_SIZE);
}

uint64_t ring_last_seq(ring_t *r)
{
    return atomic_load_explicit(&r->last_seq, memory_order_acquire);
}

uint64_t ring_recovered_locks(ring_t *r)
{
    return atomic_load_explicit(&r->recovered_locks, memory_order_relaxed);
}

/* ------------------------------------------------------------------------
 * Writers
 * --------------------------------------------------------------------- */

/* Called with the lock just recovered from a dead writer. Its record never
 * reached head, so it is invisible and will be overwritten. The only thing
 * that can be stale is last_seq, if it died between the two commit stores:
 * recompute it from the records themselves, which are intact from tail to
 * head. This is O(records) but happens only when a process dies. */
static void ring_repair(ring_t *r)
{
    uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t last = 0;
    rec_hdr_t h;

    while (pos < head) {
        copy_out(r, pos, &h, HDR_SIZE);
        if (!hdr_sane(r, &h) || pos + rec_size(&h) > head || (last != 0 && h.seq != last + 1))
            return; /* cannot happen; keep last_seq rather than guess */
        last = h.seq;
        pos += rec_size(&h);
    }
    if (last != 0) atomic_store_explicit(&r->last_seq, last, memory_order_release);
}

/* Take the writers' lock, recovering it if its owner died. */
static int ring_lock(ring_t *r)
{
    int err = pthread_mutex_lock(&r->lock);

    if (err == EOWNERDEAD) {
        pthread_mutex_consistent(&r->lock);
        ring_repair(r);
        atomic_fetch_add_explicit(&r->recovered_locks, 1, memory_order_relaxed);
        return 0;
    }
    return -err;
}

/* Make room for a record ending at `end`: move tail past every record that
 * the new one will overwrite. Headers from tail to head are intact since we
 * hold the lock, so walking them is safe. */
static void advance_tail(ring_t *r, uint64_t head, uint64_t end)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t old = tail;
    rec_hdr_t h;

    while (end - tail > r->capacity) {
        copy_out(r, tail, &h, HDR_SIZE);
        if (tail >= head || !hdr_sane(r, &h)) {
            tail = head; /* corrupt ring: drop everything rather than loop */
            break;
        }
        tail += rec_size(&h);
    }
    if (tail != old) atomic_store_explicit(&r->tail, tail, memory_order_release);
}

static int ring_publish_impl(ring_t *r, const char *channel, size_t clen, const void *payload,
                             size_t plen, uint64_t *seq_out, void (*interrupt)(void))
{
    rec_hdr_t h;
    uint64_t start, end;
    index_entry_t *e;
    int err;

    if (!r || !channel || clen == 0 || clen > RING_MAX_CHANNEL || (plen && !payload))
        return -EINVAL;
    if (plen > ring_max_record(r) - clen) return -E2BIG;
    if ((err = ring_lock(r)) != 0) return err;

    /* We own the lock: nobody else moves head or last_seq. Taking the time
     * under the lock keeps publish_ns in seq order. */
    start = atomic_load_explicit(&r->head, memory_order_relaxed);
    h.seq = atomic_load_explicit(&r->last_seq, memory_order_relaxed) + 1;
    h.publish_ns = now_ns();
    h.channel_len = (uint32_t)clen;
    h.payload_len = (uint32_t)plen;
    end = start + rec_size(&h);

    /* Reserve before writing a byte, so that a reader copying the bytes we
     * overwrite sees it when it re-checks reserve. reserve only grows: after
     * a dead writer it may already be past `end`, which is merely
     * conservative for readers. The fence keeps our data stores after it. */
    advance_tail(r, start, end);
    if (end > atomic_load_explicit(&r->reserve, memory_order_relaxed))
        atomic_store_explicit(&r->reserve, end, memory_order_release);
    atomic_thread_fence(memory_order_release);

    copy_in(r, start, &h, HDR_SIZE);
    copy_in(r, start + HDR_SIZE, channel, clen);
    if (interrupt) {
        /* Test hook: die (or not) with half of the payload written. */
        copy_in(r, start + HDR_SIZE + clen, payload, plen / 2);
        interrupt();
        copy_in(r, start + HDR_SIZE + clen + plen / 2, (const char *)payload + plen / 2,
                plen - plen / 2);
    } else {
        copy_in(r, start + HDR_SIZE + clen, payload, plen);
    }

    /* Side index: invalidate, write hash, publish seq. A reader that sees
     * the same seq before and after reading the hash got the right hash. */
    e = &ring_index(r)[h.seq & (r->index_slots - 1)];
    atomic_store_explicit(&e->seq, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&e->hash, ring_channel_hash(channel, clen), memory_order_relaxed);
    atomic_store_explicit(&e->seq, h.seq, memory_order_release);

    /* Commit. head first: whoever sees last_seq >= seq can read the record. */
    atomic_store_explicit(&r->head, end, memory_order_release);
    atomic_store_explicit(&r->last_seq, h.seq, memory_order_release);
    pthread_mutex_unlock(&r->lock);

    if (seq_out) *seq_out = h.seq;
    return 0;
}

int ring_publish(ring_t *r, const char *channel, size_t channel_len, const void *payload,
                 size_t payload_len, uint64_t *seq_out)
{
    return ring_publish_impl(r, channel, channel_len, payload, payload_len, seq_out, NULL);
}

#ifdef RAGWS_RING_TESTING
int ring_publish_test_interrupt(ring_t *r, const char *channel, size_t clen, const void *payload,
                                size_t plen, void (*fn)(void))
{
    return ring_publish_impl(r, channel, clen, payload, plen, NULL, fn);
}
#endif

/* ------------------------------------------------------------------------
 * Readers
 * --------------------------------------------------------------------- */

void ring_reader_init(ring_t *r, ring_reader_t *rd)
{
    /* head and last_seq are two stores, so only the lock gives a matching
     * pair. This happens once per reader; if the lock is unusable, a pair
     * that is slightly off only costs a spurious lap report. */
    int locked = ring_lock(r) == 0;

    rd->pos = atomic_load_explicit(&r->head, memory_order_acquire);
    rd->next_seq = atomic_load_explicit(&r->last_seq, memory_order_acquire) + 1;
    if (locked) pthread_mutex_unlock(&r->lock);
}

/* The reader was overtaken: move it to the oldest intact record. tail may
 * move while we read the header there, so retry a bounded number of times;
 * every failed attempt means writers are lapping the whole ring faster than
 * we copy 24 bytes. If we still fail, report nothing new: the next call
 * starts over. */
static int ring_relocate(ring_t *r, ring_reader_t *rd, ring_lap_t *lap)
{
    rec_hdr_t h;

    for (int i = 0; i < RING_LAP_RETRIES; i++) {
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);

        if (tail >= head) continue; /* only possible on a corrupt ring */
        copy_out(r, tail, &h, HDR_SIZE);
        if (overwritten(r, tail)) continue;
        if (!hdr_sane(r, &h) || tail + rec_size(&h) > head) continue;

        lap->from_seq = rd->next_seq;
        lap->to_seq = h.seq;
        rd->pos = tail;
        rd->next_seq = h.seq;
        return RING_LAPPED;
    }
    return RING_EMPTY;
}

int ring_read(ring_t *r, ring_reader_t *rd, ring_entry_t *entry, char *buf, size_t cap,
              ring_lap_t *lap)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t pos = rd->pos, body;
    ring_lap_t unused;
    rec_hdr_t h;

    if (!lap) lap = &unused;
    if (pos == head) return RING_EMPTY;
    if (pos > head || overwritten(r, pos)) return ring_relocate(r, rd, lap);

    /* Header first, and check it before trusting its lengths. A wrong seq
     * with sane lengths means the bytes were overwritten under us. */
    copy_out(r, pos, &h, HDR_SIZE);
    if (h.seq != rd->next_seq || !hdr_sane(r, &h) || pos + rec_size(&h) > head)
        return ring_relocate(r, rd, lap);
    body = (uint64_t)h.channel_len + h.payload_len;

    if (body > cap) {
        /* Caller's buffer too small (it should be ring_max_record()):
         * skip the record and report it as lost rather than get stuck. */
        if (overwritten(r, pos)) return ring_relocate(r, rd, lap);
        lap->from_seq = h.seq;
        lap->to_seq = h.seq + 1;
        rd->pos = pos + rec_size(&h);
        rd->next_seq = h.seq + 1;
        return RING_LAPPED;
    }

    copy_out(r, pos + HDR_SIZE, buf, body);
    if (overwritten(r, pos)) return ring_relocate(r, rd, lap); /* torn copy */

    entry->seq = h.seq;
    entry->publish_ns = h.publish_ns;
    entry->channel_len = h.channel_len;
    entry->payload_len = h.payload_len;
    entry->channel = buf;
    entry->payload = buf + h.channel_len;
    rd->pos = pos + rec_size(&h);
    rd->next_seq = h.seq + 1;
    return RING_OK;
}

int ring_seq_channel_hash(ring_t *r, uint64_t seq, uint32_t *hash)
{
    index_entry_t *e;
    uint64_t s1, s2;
    uint32_t h;

    /* seq 0 is the empty entry; above last_seq is a record not committed
     * (a dead writer's, whose entry the next writer rewrites). */
    if (seq == 0 || seq > atomic_load_explicit(&r->last_seq, memory_order_acquire)) return 0;
    e = &ring_index(r)[seq & (r->index_slots - 1)];
    s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
    h = atomic_load_explicit(&e->hash, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    s2 = atomic_load_explicit(&e->seq, memory_order_relaxed);
    if (s1 != seq || s2 != seq) return 0;
    if (hash) *hash = h;
    return 1;
}
