/* Broadcast ring in shared memory.
 *
 * Variable-length records {seq, publish time, channel, payload} appended by
 * any process (master or workers) and read by every worker with its own
 * cursor. Writers serialise on a process-shared *robust* mutex: a writer
 * that dies mid-write leaves the lock to the next writer (EOWNERDEAD), and
 * since `head` only moves after a record is complete, a half-written record
 * is never visible. Readers take no lock: they copy a record and then check
 * that no writer reserved over it meanwhile (seqlock style); a reader that
 * was overtaken ("lapped") learns how many records it missed and, where the
 * small side index still knows them, which channels they were on.
 *
 * All offsets are monotonic 64-bit byte counts; the data area index is
 * offset % capacity, so records may wrap around the end of the area.
 */
#ifndef RAGWS_SHM_RING_H
#define RAGWS_SHM_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct ring ring_t; /* lives inside shared memory, see ring.c */

typedef struct ring_reader {
    uint64_t pos;      /* monotonic byte offset of the next record to read */
    uint64_t next_seq; /* sequence number expected at pos */
} ring_reader_t;

typedef struct ring_entry {
    uint64_t seq;        /* 1, 2, 3 ... in commit order, never reused */
    uint64_t publish_ns; /* CLOCK_MONOTONIC when published */
    uint32_t channel_len;
    uint32_t payload_len;
    const char *channel; /* points into the caller's buffer */
    const char *payload; /* points into the caller's buffer */
} ring_entry_t;

/* What a lapped reader lost: records with seq in [from_seq, to_seq). */
typedef struct ring_lap {
    uint64_t from_seq;
    uint64_t to_seq;
} ring_lap_t;

enum {
    RING_EMPTY = 0,  /* nothing new */
    RING_OK = 1,     /* *entry filled */
    RING_LAPPED = 2, /* *lap filled; reader moved to the oldest intact record */
};

/* Bytes of shared memory needed for a ring with `data_bytes` of record area
 * (rounded up to a power of two, at least 64 KiB). */
size_t ring_size_for(size_t data_bytes);

/* Initialise a ring in `mem` (size from ring_size_for). Call once, before
 * fork. Returns 0 or -errno. */
int ring_init(void *mem, size_t data_bytes);

/* The ring inside memory initialised by ring_init. */
ring_t *ring_from_mem(void *mem);

/* Largest channel_len + payload_len accepted by ring_publish. */
size_t ring_max_record(const ring_t *r);

/* Append one record. Returns 0 and its seq in *seq_out (may be NULL), or
 * -E2BIG when the record cannot fit, -EINVAL on empty channel. Never blocks
 * for longer than another writer's memcpy. */
int ring_publish(ring_t *r, const char *channel, size_t channel_len, const void *payload,
                 size_t payload_len, uint64_t *seq_out);

/* Position a reader at the current head (it will see only later records). */
void ring_reader_init(ring_t *r, ring_reader_t *rd);

/* Read the next record, copying channel then payload into buf (cap bytes;
 * cap >= ring_max_record() always suffices). Returns RING_EMPTY, RING_OK or
 * RING_LAPPED. After RING_LAPPED the next call continues from the oldest
 * intact record. */
int ring_read(ring_t *r, ring_reader_t *rd, ring_entry_t *entry, char *buf, size_t cap,
              ring_lap_t *lap);

/* Channel hash of the record with sequence `seq`, from the side index.
 * Returns 1 and sets *hash if still known, 0 if forgotten. */
int ring_seq_channel_hash(ring_t *r, uint64_t seq, uint32_t *hash);

/* The hash used by the side index (FNV-1a, 32 bit). */
uint32_t ring_channel_hash(const char *channel, size_t len);

/* Last committed sequence number (0 when nothing was ever published). */
uint64_t ring_last_seq(ring_t *r);

/* Number of times a writer recovered the lock from a dead owner. */
uint64_t ring_recovered_locks(ring_t *r);

#ifdef RAGWS_RING_TESTING
/* Test hook: take the lock and write a partial record, then call fn
 * (which may _exit) before committing. Used to simulate a writer killed
 * mid-write. */
int ring_publish_test_interrupt(ring_t *r, const char *channel, size_t clen, const void *payload,
                                size_t plen, void (*fn)(void));
#endif

#endif
