#include "worker/net/pubsub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/gateway.h"
#include "shm/ring.h"
#include "worker/net/net.h"
#include "worker/net/ws.h"

#define PUBSUB_BUCKETS 1024

static channel_t *buckets[PUBSUB_BUCKETS];

int net_publish(const char *channel, size_t clen, const char *payload, size_t plen)
{
    return shm_publish(net->shm, channel, clen, payload, plen);
}

static channel_t *lookup(const char *name, size_t len, uint32_t hash)
{
    for (channel_t *ch = buckets[hash % PUBSUB_BUCKETS]; ch; ch = ch->next)
        if (ch->hash == hash && ch->name_len == len && memcmp(ch->name, name, len) == 0) return ch;
    return NULL;
}

static channel_t *get_channel(const char *name, size_t len)
{
    uint32_t hash = ring_channel_hash(name, len);
    channel_t *ch = lookup(name, len, hash);
    if (!ch) {
        ch = calloc(1, sizeof *ch);
        if (!ch || !(ch->name = malloc(len + 1))) {
            free(ch);
            return NULL;
        }
        memcpy(ch->name, name, len);
        ch->name[len] = 0;
        ch->name_len = len;
        ch->hash = hash;
        ch->next = buckets[hash % PUBSUB_BUCKETS];
        buckets[hash % PUBSUB_BUCKETS] = ch;
    }
    return ch;
}

int pubsub_subscribe(conn_t *c, const char *name, size_t len)
{
    if (c->nsubs >= CONN_MAX_SUBS) return -1;
    channel_t *ch = get_channel(name, len);
    if (!ch) return -1;
    for (int i = 0; i < c->nsubs; i++)
        if (c->subs[i].ch == ch) return 0;
    if (ch->n == ch->cap) {
        uint32_t cap = ch->cap ? ch->cap * 2 : 16;
        conn_t **s = realloc(ch->subs, cap * sizeof *s);
        if (!s) return -1;
        ch->subs = s;
        ch->cap = cap;
    }
    c->subs[c->nsubs++] = (conn_sub_t){ch, ch->n};
    ch->subs[ch->n++] = c;
    return 0;
}

static void drop_channel(channel_t *ch)
{
    channel_t **pp = &buckets[ch->hash % PUBSUB_BUCKETS];
    while (*pp != ch) pp = &(*pp)->next;
    *pp = ch->next;
    free(ch->subs);
    free(ch->hooks);
    free(ch->name);
    free(ch);
}

static void unsubscribe_at(conn_t *c, int i)
{
    channel_t *ch = c->subs[i].ch;
    uint32_t idx = c->subs[i].idx;
    /* swap-remove, and fix the moved connection's back index */
    conn_t *moved = ch->subs[--ch->n];
    ch->subs[idx] = moved;
    if (moved != c)
        for (int j = 0; j < moved->nsubs; j++)
            if (moved->subs[j].ch == ch) moved->subs[j].idx = idx;
    c->subs[i] = c->subs[--c->nsubs];
    if (!ch->n && !ch->nhooks && !ch->busy) drop_channel(ch);
}

int pubsub_hook_subscribe(pubsub_hook_t *h, const char *name, size_t len)
{
    pubsub_hook_unsubscribe(h);
    channel_t *ch = get_channel(name, len);
    if (!ch) return -1;
    if (ch->nhooks == ch->hooks_cap) {
        uint32_t cap = ch->hooks_cap ? ch->hooks_cap * 2 : 8;
        pubsub_hook_t **hs = realloc(ch->hooks, cap * sizeof *hs);
        if (!hs) {
            if (!ch->n && !ch->nhooks) drop_channel(ch);
            return -1;
        }
        ch->hooks = hs;
        ch->hooks_cap = cap;
    }
    h->ch = ch;
    h->idx = ch->nhooks;
    ch->hooks[ch->nhooks++] = h;
    return 0;
}

void pubsub_hook_unsubscribe(pubsub_hook_t *h)
{
    channel_t *ch = h->ch;
    if (!ch) return;
    pubsub_hook_t *moved = ch->hooks[--ch->nhooks];
    ch->hooks[h->idx] = moved;
    moved->idx = h->idx;
    h->ch = NULL;
    if (!ch->n && !ch->nhooks && !ch->busy) drop_channel(ch);
}

void pubsub_unsubscribe(conn_t *c, const char *name, size_t len)
{
    for (int i = 0; i < c->nsubs; i++) {
        channel_t *ch = c->subs[i].ch;
        if (ch->name_len == len && memcmp(ch->name, name, len) == 0) {
            unsubscribe_at(c, i);
            return;
        }
    }
}

void pubsub_unsubscribe_all(conn_t *c)
{
    while (c->nsubs) unsubscribe_at(c, c->nsubs - 1);
}

uint32_t pubsub_count(const char *name, size_t len)
{
    channel_t *ch = lookup(name, len, ring_channel_hash(name, len));
    return ch ? ch->n : 0;
}

static void send_to_all(channel_t *ch, outbuf_t *frame, const char *payload, size_t len)
{
    uint32_t delivered = 0;
    ch->busy++;
    /* Iterate backwards: a slow consumer closed during the loop is
     * swap-removed from a position we have already passed. */
    for (uint32_t i = ch->n; i-- > 0;) {
        if (i >= ch->n) continue;
        conn_t *c = ch->subs[i];
        if (c->flags & CF_CLOSING) continue;
        if (conn_send(c, outbuf_ref(frame)) == 0) delivered++;
    }
    for (uint32_t i = ch->nhooks; payload && i-- > 0;) {
        if (i >= ch->nhooks) continue;
        ch->hooks[i]->deliver(ch->hooks[i], frame, payload, len);
        delivered++;
    }
    ch->busy--;
    stats_add(&net->stats->messages_out, delivered);
    if (!ch->n && !ch->nhooks && !ch->busy) drop_channel(ch);
}

void pubsub_deliver(const char *channel, size_t clen, const char *payload, size_t plen,
                    uint64_t publish_ns)
{
    channel_t *ch = lookup(channel, clen, ring_channel_hash(channel, clen));
    if (!ch) return;
    outbuf_t *frame = ws_frame_text(payload, plen);
    if (!frame) return;
    frame->publish_ns = publish_ns;
    send_to_all(ch, frame, payload, plen);
    outbuf_unref(frame);
    stats_add(&net->stats->broadcasts, 1);
}

static void resync(channel_t *ch, uint64_t missed)
{
    char *msg = gateway_resync(ch->name, missed);
    outbuf_t *frame = msg ? ws_frame_text(msg, strlen(msg)) : NULL;
    free(msg);
    if (!frame) return;
    ch->busy++;
    send_to_all(ch, frame, NULL, 0);
    for (uint32_t i = ch->nhooks; i-- > 0;)
        if (i < ch->nhooks && ch->hooks[i]->resync)
            ch->hooks[i]->resync(ch->hooks[i], ch->name, missed);
    ch->busy--;
    outbuf_unref(frame);
    if (!ch->n && !ch->nhooks && !ch->busy) drop_channel(ch);
}

void pubsub_resync_hash(uint32_t hash, uint64_t missed)
{
    for (channel_t *ch = buckets[hash % PUBSUB_BUCKETS]; ch; ch = ch->next)
        if (ch->hash == hash) resync(ch, missed);
}

void pubsub_resync_all(uint64_t missed)
{
    for (int b = 0; b < PUBSUB_BUCKETS; b++)
        for (channel_t *ch = buckets[b], *next; ch; ch = next) {
            next = ch->next;
            resync(ch, missed);
        }
}

void pubsub_free_all(void)
{
    for (int b = 0; b < PUBSUB_BUCKETS; b++) {
        while (buckets[b]) {
            channel_t *ch = buckets[b];
            buckets[b] = ch->next;
            free(ch->subs);
            free(ch->hooks);
            free(ch->name);
            free(ch);
        }
    }
}
