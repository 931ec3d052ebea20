/* Reference-counted output buffers and the per-connection send queue.
 *
 * A broadcast is framed once into one outbuf and the same outbuf is queued
 * on every subscriber (refcount, no copy). A connection's queue is a small
 * ring of {outbuf, offset} allocated only while it has bytes waiting, so an
 * idle connection costs no queue memory. Flushing turns the queue into one
 * writev. Single-threaded (one worker): plain integer refcounts. */
#ifndef RAGWS_WORKER_OUTBUF_H
#define RAGWS_WORKER_OUTBUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct outbuf {
    uint32_t refs;
    uint32_t len;
    uint64_t publish_ns; /* broadcasts: publish time; tokens: arrival from the LLM */
    uint8_t is_token;    /* publish_ns times an LLM token, not a broadcast */
    char data[];
} outbuf_t;

outbuf_t *outbuf_new(size_t len); /* refs = 1, len set, data uninitialised */
static inline outbuf_t *outbuf_ref(outbuf_t *b)
{
    b->refs++;
    return b;
}
void outbuf_unref(outbuf_t *b);

typedef struct outq_item {
    outbuf_t *buf;
    uint32_t off; /* bytes of buf already written */
} outq_item_t;

typedef struct outq {
    outq_item_t *items; /* NULL while empty */
    uint32_t head, len, cap;
    size_t bytes; /* unwritten bytes queued */
} outq_t;

/* Takes one reference (the caller's). Returns -1 on allocation failure. */
int outq_push(outq_t *q, outbuf_t *b);

/* Fill iov with up to max entries; returns the count. */
int outq_iov(const outq_t *q, struct iovec *iov, int max);

/* Consume n written bytes; *latency_cb called for completed broadcasts. */
void outq_consume(outq_t *q, size_t n, void (*done)(void *ud, outbuf_t *b), void *ud);

/* Drop every item not yet partly written (slow consumer); keeps a partly
 * written head item so the stream stays frame-aligned. */
void outq_drop_unstarted(outq_t *q);

void outq_clear(outq_t *q);

#endif
