#include "worker/net/outbuf.h"

#include <stdlib.h>

outbuf_t *outbuf_new(size_t len)
{
    if (len > UINT32_MAX) return NULL;
    outbuf_t *b = malloc(sizeof *b + len);
    if (!b) return NULL;
    b->refs = 1;
    b->len = (uint32_t)len;
    b->publish_ns = 0;
    b->is_token = 0;
    return b;
}

void outbuf_unref(outbuf_t *b)
{
    if (b && --b->refs == 0) free(b);
}

int outq_push(outq_t *q, outbuf_t *b)
{
    if (q->len == q->cap) {
        uint32_t cap = q->cap ? q->cap * 2 : 8;
        outq_item_t *items = malloc(cap * sizeof *items);
        if (!items) return -1;
        for (uint32_t i = 0; i < q->len; i++) items[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = items;
        q->head = 0;
        q->cap = cap;
    }
    q->items[(q->head + q->len) % q->cap] = (outq_item_t){b, 0};
    q->len++;
    q->bytes += b->len;
    return 0;
}

int outq_iov(const outq_t *q, struct iovec *iov, int max)
{
    int n = 0;
    for (uint32_t i = 0; i < q->len && n < max; i++) {
        const outq_item_t *it = &q->items[(q->head + i) % q->cap];
        iov[n].iov_base = it->buf->data + it->off;
        iov[n].iov_len = it->buf->len - it->off;
        n++;
    }
    return n;
}

static void pop_head(outq_t *q)
{
    q->head = (q->head + 1) % q->cap;
    q->len--;
    if (q->len == 0) {
        /* Idle again: give the queue memory back. */
        free(q->items);
        q->items = NULL;
        q->head = q->cap = 0;
    }
}

void outq_consume(outq_t *q, size_t n, void (*done)(void *ud, outbuf_t *b), void *ud)
{
    q->bytes -= n;
    while (n && q->len) {
        outq_item_t *it = &q->items[q->head];
        size_t left = it->buf->len - it->off;
        if (n < left) {
            it->off += (uint32_t)n;
            return;
        }
        n -= left;
        if (done) done(ud, it->buf);
        outbuf_unref(it->buf);
        pop_head(q);
    }
}

void outq_drop_unstarted(outq_t *q)
{
    uint32_t keep = (q->len && q->items[q->head].off) ? 1 : 0;
    while (q->len > keep) {
        uint32_t last = (q->head + q->len - 1) % q->cap;
        q->bytes -= q->items[last].buf->len - q->items[last].off;
        outbuf_unref(q->items[last].buf);
        q->len--;
    }
    if (!q->len) {
        free(q->items);
        q->items = NULL;
        q->head = q->cap = 0;
    }
}

void outq_clear(outq_t *q)
{
    while (q->len) {
        outbuf_unref(q->items[q->head].buf);
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    free(q->items);
    q->items = NULL;
    q->head = q->cap = 0;
    q->bytes = 0;
}
