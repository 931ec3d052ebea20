/* worker/net/outbuf.c and the ownership rules of the send path:
 * refcounts, the queue (push, iov, consume with the done callback, drop of
 * unstarted items, clear), _copy (the caller's bytes are copied) and
 * _owned (the JSON string is taken and freed), the token stamp of
 * ws_send_text_at. No socket: connections are never flushed. */
#include <stdlib.h>

#include "tests/unit/unit.h"
#include "worker/net/conn.h"
#include "worker/net/net.h"
#include "worker/net/outbuf.h"
#include "worker/net/ws.h"

static net_ctx_t ctx;
static ragws_config_t cfg;
static worker_stats_t stats;

static outbuf_t *buf_of(const char *s)
{
    outbuf_t *b = outbuf_new(strlen(s));
    memcpy(b->data, s, strlen(s));
    return b;
}

static void test_refcounts(void)
{
    outbuf_t *b = outbuf_new(3);
    CHECK(b != NULL);
    CHECK_EQ_INT(b->refs, 1);
    CHECK_EQ_INT(b->len, 3);
    CHECK_EQ_INT(b->publish_ns, 0);
    CHECK_EQ_INT(b->is_token, 0);
    CHECK(outbuf_ref(b) == b);
    CHECK_EQ_INT(b->refs, 2);
    outbuf_unref(b);
    CHECK_EQ_INT(b->refs, 1);
    outbuf_unref(b); /* freed: ASan reports a leak or a double free otherwise */
    outbuf_unref(NULL);
    CHECK(outbuf_new((size_t)UINT32_MAX + 1) == NULL);
}

static int done_count;
static size_t done_bytes;
static void on_done(void *ud, outbuf_t *b)
{
    (void)ud;
    done_count++;
    done_bytes += b->len;
}

static void test_queue_consume(void)
{
    outq_t q = {0};
    outbuf_t *shared = buf_of("hello");
    CHECK_EQ_INT(outq_push(&q, outbuf_ref(shared)), 0); /* the queue takes one reference */
    CHECK_EQ_INT(outq_push(&q, buf_of("world!")), 0);
    CHECK_EQ_INT(shared->refs, 2);
    CHECK_EQ_INT(q.len, 2);
    CHECK_EQ_INT(q.bytes, 11);
    struct iovec iov[4];
    CHECK_EQ_INT(outq_iov(&q, iov, 4), 2);
    CHECK_EQ_INT(iov[0].iov_len, 5);
    CHECK_EQ_INT(iov[1].iov_len, 6);
    CHECK_EQ_INT(outq_iov(&q, iov, 1), 1);

    done_count = 0;
    done_bytes = 0;
    outq_consume(&q, 3, on_done, NULL); /* partly written head */
    CHECK_EQ_INT(done_count, 0);
    CHECK_EQ_INT(q.bytes, 8);
    CHECK_EQ_INT(outq_iov(&q, iov, 4), 2);
    CHECK_EQ_INT(iov[0].iov_len, 2);
    CHECK(memcmp(iov[0].iov_base, "lo", 2) == 0);
    outq_consume(&q, 4, on_done, NULL); /* the head and 2 bytes of the next */
    CHECK_EQ_INT(done_count, 1);
    CHECK_EQ_INT(done_bytes, 5);
    CHECK_EQ_INT(shared->refs, 1); /* the queue let go of its reference */
    outq_consume(&q, 4, on_done, NULL);
    CHECK_EQ_INT(done_count, 2);
    CHECK_EQ_INT(q.len, 0);
    CHECK_EQ_INT(q.bytes, 0);
    CHECK(q.items == NULL); /* idle again: no queue memory */
    outbuf_unref(shared);
}

static void test_queue_grows_in_order(void)
{
    outq_t q = {0};
    char s[2] = "a";
    for (int i = 0; i < 20; i++) {
        s[0] = (char)('a' + i);
        CHECK_EQ_INT(outq_push(&q, buf_of(s)), 0);
        if (i == 3) outq_consume(&q, 2, NULL, NULL); /* head moves: the ring wraps */
    }
    struct iovec iov[32];
    int n = outq_iov(&q, iov, 32);
    CHECK_EQ_INT(n, 18);
    for (int i = 0; i < n; i++) CHECK_EQ_INT(((char *)iov[i].iov_base)[0], 'c' + i);
    outq_clear(&q);
    CHECK(q.items == NULL);
    CHECK_EQ_INT(q.len, 0);
    CHECK_EQ_INT(q.bytes, 0);
}

static void test_drop_unstarted(void)
{
    outq_t q = {0};
    outq_push(&q, buf_of("frame-1"));
    outq_push(&q, buf_of("frame-2"));
    outq_push(&q, buf_of("frame-3"));
    outq_drop_unstarted(&q); /* nothing started: all go */
    CHECK_EQ_INT(q.len, 0);
    CHECK_EQ_INT(q.bytes, 0);
    CHECK(q.items == NULL);

    outq_push(&q, buf_of("frame-1"));
    outq_push(&q, buf_of("frame-2"));
    outq_consume(&q, 2, NULL, NULL);
    outq_drop_unstarted(&q); /* the started frame stays: the stream stays aligned */
    CHECK_EQ_INT(q.len, 1);
    CHECK_EQ_INT(q.bytes, 5);
    outq_clear(&q);
}

static conn_t *fake_ws(void)
{
    conn_t *c = calloc(1, sizeof *c);
    c->state = CONN_WS;
    c->watch.fd = -1;
    return c;
}

static void release(conn_t *c)
{
    outq_clear(&c->out);
    free(c);
    ctx.dirty = NULL;
}

static void test_copy_and_owned(void)
{
    conn_t *c = fake_ws();
    char data[] = "abc";
    CHECK_EQ_INT(conn_send_copy(c, data, 3), 0);
    data[0] = 'X'; /* the queue has its own copy */
    CHECK_EQ_INT(c->out.len, 1);
    outbuf_t *b = c->out.items[c->out.head].buf;
    CHECK(memcmp(b->data, "abc", 3) == 0);
    CHECK_EQ_INT(b->refs, 1);
    CHECK(c->flags & CF_DIRTY);
    CHECK(ctx.dirty == c);

    /* _owned takes the string (ASan: freed exactly once) */
    CHECK_EQ_INT(ws_send_owned(c, strdup("{\"type\":\"x\"}")), 0);
    CHECK_EQ_INT(c->out.len, 2);
    b = c->out.items[(c->out.head + 1) % c->out.cap].buf;
    CHECK_EQ_INT(b->len, 2 + 12);
    CHECK_EQ_INT((unsigned char)b->data[0], 0x81);
    CHECK_EQ_INT(b->data[1], 12);
    CHECK(memcmp(b->data + 2, "{\"type\":\"x\"}", 12) == 0);
    CHECK_EQ_INT(b->is_token, 0);

    /* a token carries its arrival time to the flush */
    CHECK_EQ_INT(ws_send_owned_at(c, strdup("{\"t\":1}"), 12345), 0);
    b = c->out.items[(c->out.head + 2) % c->out.cap].buf;
    CHECK_EQ_INT(b->publish_ns, 12345);
    CHECK_EQ_INT(b->is_token, 1);
    CHECK_EQ_INT(stats_get(&stats.messages_out), 2);

    /* a closing connection takes nothing */
    c->flags |= CF_CLOSING;
    CHECK_EQ_INT(ws_send_text(c, "x", 1), -1);
    CHECK_EQ_INT(c->out.len, 3);
    release(c);
}

static void test_frame_lengths(void)
{
    static char big[70000];
    memset(big, 'a', sizeof big);
    outbuf_t *b = ws_frame_text(big, 125);
    CHECK_EQ_INT(b->len, 127);
    CHECK_EQ_INT(b->data[1], 125);
    outbuf_unref(b);
    b = ws_frame_text(big, 126);
    CHECK_EQ_INT(b->len, 130);
    CHECK_EQ_INT((unsigned char)b->data[1], 126);
    CHECK_EQ_INT((unsigned char)b->data[2], 0);
    CHECK_EQ_INT((unsigned char)b->data[3], 126);
    outbuf_unref(b);
    b = ws_frame_text(big, sizeof big);
    CHECK_EQ_INT(b->len, sizeof big + 10);
    CHECK_EQ_INT((unsigned char)b->data[1], 127);
    CHECK_EQ_INT(((unsigned char)b->data[7] << 16 | (unsigned char)b->data[8] << 8 |
                  (unsigned char)b->data[9]),
                 sizeof big);
    outbuf_unref(b);
}

int main(void)
{
    config_defaults(&cfg);
    ctx.cfg = &cfg;
    ctx.stats = &stats;
    net = &ctx;
    RUN(test_refcounts);
    RUN(test_queue_consume);
    RUN(test_queue_grows_in_order);
    RUN(test_drop_unstarted);
    RUN(test_copy_and_owned);
    RUN(test_frame_lengths);
    return UNIT_SUMMARY();
}
