/* worker/net/pubsub.c: subscribe / unsubscribe (swap-removal keeps the
 * back indexes right), delivery framed once and shared by reference,
 * hooks (a fake subscriber that is not a connection), the resync notice
 * of a lapped ring (protocol/gateway.h's shape), counts and the channel
 * freed when its last subscriber leaves. No socket: queues are read back. */
#include <stdlib.h>

#include "protocol/gateway.h"
#include "shm/ring.h"
#include "tests/unit/unit.h"
#include "worker/net/conn.h"
#include "worker/net/net.h"
#include "worker/net/pubsub.h"

static net_ctx_t ctx;
static ragws_config_t cfg;
static worker_stats_t stats;

static conn_t *fake_ws(void)
{
    conn_t *c = calloc(1, sizeof *c);
    c->state = CONN_WS;
    c->watch.fd = -1;
    return c;
}

static void release(conn_t *c)
{
    pubsub_unsubscribe_all(c);
    outq_clear(&c->out);
    free(c);
}

/* The payload of the i-th frame queued on c (a short text frame). */
static const char *queued(const conn_t *c, uint32_t i, size_t *len, outbuf_t **buf)
{
    outbuf_t *b = c->out.items[(c->out.head + i) % c->out.cap].buf;
    if (buf) *buf = b;
    *len = (unsigned char)b->data[1];
    return b->data + 2;
}

typedef struct fake_hook {
    pubsub_hook_t h;
    int delivered, resynced;
    outbuf_t *last_frame;
    char payload[64];
    uint64_t missed;
} fake_hook_t;

static void hook_deliver(pubsub_hook_t *h, outbuf_t *frame, const char *payload, size_t len)
{
    fake_hook_t *f = (fake_hook_t *)h;
    f->delivered++;
    f->last_frame = frame;
    snprintf(f->payload, sizeof f->payload, "%.*s", (int)len, payload);
}

static void hook_resync(pubsub_hook_t *h, const char *channel, uint64_t missed)
{
    fake_hook_t *f = (fake_hook_t *)h;
    (void)channel;
    f->resynced++;
    f->missed = missed;
}

static void test_subscribe_deliver_shared(void)
{
    conn_t *a = fake_ws(), *b = fake_ws(), *other = fake_ws();
    CHECK_EQ_INT(pubsub_subscribe(a, "news", 4), 0);
    CHECK_EQ_INT(pubsub_subscribe(b, "news", 4), 0);
    CHECK_EQ_INT(pubsub_subscribe(b, "news", 4), 0); /* twice: once */
    CHECK_EQ_INT(b->nsubs, 1);
    CHECK_EQ_INT(pubsub_subscribe(other, "sport", 5), 0);
    CHECK_EQ_INT(pubsub_count("news", 4), 2);

    pubsub_deliver("news", 4, "{\"n\":1}", 7, 99);
    CHECK_EQ_INT(a->out.len, 1);
    CHECK_EQ_INT(b->out.len, 1);
    CHECK_EQ_INT(other->out.len, 0);
    outbuf_t *fa, *fb;
    size_t len;
    const char *p = queued(a, 0, &len, &fa);
    queued(b, 0, &len, &fb);
    CHECK(fa == fb); /* framed once, one buffer for every subscriber */
    CHECK_EQ_INT(fa->refs, 2);
    CHECK_EQ_INT(fa->publish_ns, 99);
    CHECK_EQ_INT(len, 7);
    CHECK(memcmp(p, "{\"n\":1}", 7) == 0);
    CHECK_EQ_INT(stats_get(&stats.broadcasts), 1);
    CHECK_EQ_INT(stats_get(&stats.messages_out), 2);

    pubsub_deliver("nobody", 6, "x", 1, 0); /* no channel: nothing */
    CHECK_EQ_INT(stats_get(&stats.broadcasts), 1);

    /* a closing connection is skipped */
    a->flags |= CF_CLOSING;
    pubsub_deliver("news", 4, "2", 1, 0);
    CHECK_EQ_INT(a->out.len, 1);
    CHECK_EQ_INT(b->out.len, 2);
    release(a);
    release(b);
    release(other);
    CHECK_EQ_INT(pubsub_count("news", 4), 0);
}

static void test_unsubscribe_swap_remove(void)
{
    conn_t *c[4];
    for (int i = 0; i < 4; i++) {
        c[i] = fake_ws();
        CHECK_EQ_INT(pubsub_subscribe(c[i], "ch", 2), 0);
    }
    CHECK_EQ_INT(pubsub_subscribe(c[3], "two", 3), 0);
    CHECK_EQ_INT(pubsub_subscribe(c[3], "three", 5), -1); /* CONN_MAX_SUBS */
    pubsub_unsubscribe(c[0], "ch", 2);                    /* c[3] moves into slot 0 */
    CHECK_EQ_INT(c[0]->nsubs, 0);
    CHECK_EQ_INT(pubsub_count("ch", 2), 3);
    pubsub_unsubscribe(c[3], "ch", 2); /* its back index was fixed */
    CHECK_EQ_INT(pubsub_count("ch", 2), 2);
    CHECK_EQ_INT(c[3]->nsubs, 1);
    pubsub_unsubscribe(c[3], "nope", 4);
    pubsub_deliver("ch", 2, "x", 1, 0);
    CHECK_EQ_INT(c[0]->out.len, 0);
    CHECK_EQ_INT(c[1]->out.len, 1);
    CHECK_EQ_INT(c[2]->out.len, 1);
    CHECK_EQ_INT(c[3]->out.len, 0);
    for (int i = 0; i < 4; i++) release(c[i]);
}

static void test_hooks(void)
{
    fake_hook_t h1 = {.h = {.deliver = hook_deliver, .resync = hook_resync}};
    fake_hook_t h2 = {.h = {.deliver = hook_deliver}};
    conn_t *c = fake_ws();
    CHECK_EQ_INT(pubsub_hook_subscribe(&h1.h, "room", 4), 0);
    CHECK_EQ_INT(pubsub_hook_subscribe(&h2.h, "room", 4), 0);
    CHECK_EQ_INT(pubsub_subscribe(c, "room", 4), 0);
    CHECK_EQ_INT(pubsub_count("room", 4), 1); /* connections only */
    pubsub_deliver("room", 4, "pkt", 3, 0);
    CHECK_EQ_INT(h1.delivered, 1);
    CHECK_EQ_INT(h2.delivered, 1);
    CHECK_EQ_STR(h1.payload, "pkt");
    size_t len;
    outbuf_t *f;
    queued(c, 0, &len, &f);
    CHECK(h1.last_frame == f); /* the hook gets the same frame */

    /* one channel per hook: subscribing elsewhere leaves the first */
    CHECK_EQ_INT(pubsub_hook_subscribe(&h2.h, "elsewhere", 9), 0);
    pubsub_deliver("room", 4, "again", 5, 0);
    CHECK_EQ_INT(h1.delivered, 2);
    CHECK_EQ_INT(h2.delivered, 1);
    pubsub_hook_unsubscribe(&h2.h);
    pubsub_hook_unsubscribe(&h2.h); /* twice is harmless */
    CHECK(h2.h.ch == NULL);
    pubsub_hook_unsubscribe(&h1.h);
    pubsub_deliver("room", 4, "last", 4, 0);
    CHECK_EQ_INT(h1.delivered, 2);
    CHECK_EQ_INT(c->out.len, 3);
    release(c);
}

static void test_resync(void)
{
    fake_hook_t h = {.h = {.deliver = hook_deliver, .resync = hook_resync}};
    conn_t *c = fake_ws(), *d = fake_ws();
    CHECK_EQ_INT(pubsub_subscribe(c, "lost", 4), 0);
    CHECK_EQ_INT(pubsub_subscribe(d, "kept", 4), 0);
    CHECK_EQ_INT(pubsub_hook_subscribe(&h.h, "lost", 4), 0);
    pubsub_resync_hash(ring_channel_hash("lost", 4), 7);
    CHECK_EQ_INT(c->out.len, 1);
    CHECK_EQ_INT(d->out.len, 0);
    CHECK_EQ_INT(h.resynced, 1);
    CHECK_EQ_INT(h.missed, 7);
    CHECK_EQ_INT(h.delivered, 0); /* the notice is not a payload for hooks */
    size_t len;
    const char *p = queued(c, 0, &len, NULL);
    char *want = gateway_resync("lost", 7);
    CHECK_EQ_INT(len, strlen(want));
    CHECK(memcmp(p, want, len) == 0);
    free(want);

    pubsub_resync_all(3);
    CHECK_EQ_INT(c->out.len, 2);
    CHECK_EQ_INT(d->out.len, 1);
    CHECK_EQ_INT(h.resynced, 2);
    pubsub_hook_unsubscribe(&h.h);
    release(c);
    release(d);
}

static void test_publish_goes_to_the_ring(void)
{
    shm_region_t *shm = shm_create(1 << 16);
    CHECK(shm != NULL);
    if (!shm) return;
    ctx.shm = shm;
    ring_t *r = shm_ring(shm);
    ring_reader_t rd;
    ring_reader_init(r, &rd); /* from now on */
    CHECK_EQ_INT(net_publish("news", 4, "hello", 5), 0);
    ring_entry_t e;
    ring_lap_t lap;
    char buf[256];
    CHECK_EQ_INT(ring_read(r, &rd, &e, buf, sizeof buf, &lap), RING_OK);
    CHECK_EQ_INT(e.channel_len, 4);
    CHECK(memcmp(e.channel, "news", 4) == 0);
    CHECK_EQ_INT(e.payload_len, 5);
    CHECK(memcmp(e.payload, "hello", 5) == 0);
    static char huge[1 << 16];
    CHECK(net_publish("news", 4, huge, sizeof huge) < 0); /* over ring_size / 4 */
    ctx.shm = NULL;
}

int main(void)
{
    config_defaults(&cfg);
    ctx.cfg = &cfg;
    ctx.stats = &stats;
    net = &ctx;
    RUN(test_subscribe_deliver_shared);
    RUN(test_unsubscribe_swap_remove);
    RUN(test_hooks);
    RUN(test_resync);
    RUN(test_publish_goes_to_the_ring);
    pubsub_free_all();
    return UNIT_SUMMARY();
}
