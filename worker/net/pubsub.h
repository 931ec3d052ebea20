/* The worker's subscriber table: channel name -> local connections.
 * Broadcasts read from the ring are framed once and the same buffer is
 * queued on every subscriber. Publishing goes into the shared ring
 * (net_publish), from which every worker delivers to its own subscribers.
 *
 * The subscriber arrays (ch->subs, ch->hooks) are arrays of pointers with
 * back indexes for O(1) swap-removal, not byte buffers: base/buf.h's
 * buf_t does not fit them. */
#ifndef RAGWS_WORKER_PUBSUB_H
#define RAGWS_WORKER_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#include "worker/net/conn.h"

struct channel;

/* A subscriber that is not a connection (a Socket.IO session, whose
 * transport may be long-polling): gets the framed buffer and the payload. */
typedef struct pubsub_hook {
    void (*deliver)(struct pubsub_hook *h, outbuf_t *frame, const char *payload, size_t len);
    void (*resync)(struct pubsub_hook *h, const char *channel, uint64_t missed);
    struct channel *ch; /* NULL when not subscribed */
    uint32_t idx;
} pubsub_hook_t;

typedef struct channel {
    char *name;
    size_t name_len;
    uint32_t hash; /* ring_channel_hash(name) */
    conn_t **subs;
    uint32_t n, cap;
    pubsub_hook_t **hooks;
    uint32_t nhooks, hooks_cap;
    uint32_t busy;        /* being iterated: freeing waits */
    struct channel *next; /* hash chain */
} channel_t;

/* Publish into the ring (any endpoint, REST or WebSocket); -1 when the
 * record is too large for it (shm.ring_size / 4). */
int net_publish(const char *channel, size_t clen, const char *payload, size_t plen);

int pubsub_subscribe(conn_t *c, const char *name, size_t len);
void pubsub_unsubscribe(conn_t *c, const char *name, size_t len);
void pubsub_unsubscribe_all(conn_t *c);

/* Hooks: one channel at a time per hook. */
int pubsub_hook_subscribe(pubsub_hook_t *h, const char *name, size_t len);
void pubsub_hook_unsubscribe(pubsub_hook_t *h);

/* Number of local subscribers of a channel. */
uint32_t pubsub_count(const char *name, size_t len);

/* Deliver one ring record to local subscribers. */
void pubsub_deliver(const char *channel, size_t clen, const char *payload, size_t plen,
                    uint64_t publish_ns);

/* A lapped ring lost `missed` records of the channel with this hash (or of
 * unknown channels, when known == 0): tell the affected subscribers. */
void pubsub_resync_hash(uint32_t hash, uint64_t missed);
void pubsub_resync_all(uint64_t missed);

/* Free every channel (worker exit). */
void pubsub_free_all(void);

#endif
