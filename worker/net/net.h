/* The transport's process context: one per worker process, filled once by
 * the composition root (worker/worker.c) before the loop runs, read by
 * every file of worker/net. It holds what the transport needs from its
 * process (loop, configuration, statistics slot, shared region) and the
 * transport's own state (connection list, flush list, read scratch buffer,
 * shared ping frame, per-IP table), plus what the endpoints layer gives it
 * without being named: the route table (worker/api/routes.c) and the hooks
 * below. Nothing in worker/net includes worker/api or worker/svc.
 *
 * Ownership: worker.c allocates and frees the scratch buffer, the ping
 * frame and the IP table; the connection lists are conn.c's. `draining` is
 * written only by worker.c (nonzero from SIGTERM on). Unit tests may point
 * `net` at a context of their own. */
#ifndef RAGWS_WORKER_NET_NET_H
#define RAGWS_WORKER_NET_NET_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/loop.h"
#include "protocol/http_parser.h"
#include "shm/region.h"
#include "worker/net/outbuf.h"
#include "worker/net/route.h"

typedef struct conn conn_t;
typedef struct ip_table ip_table_t;

/* What the auth hook decided for a WebSocket upgrade that may go on (all
 * malloc'd, taken over by the transport). */
typedef struct net_ws_auth {
    char *sub;          /* the token's sub, kept as c->sub (NULL: none) */
    char *protocol;     /* Sec-WebSocket-Protocol value to select, NULL for none */
    char *refusal;      /* a text message to send after the 101, then close 1008 */
    const char *reason; /* the 1008 close reason (static) */
} net_ws_auth_t;

typedef struct net_hooks {
    /* Auth and Origin of an HTTP request, from the route's requirement,
     * before net answers 404/405 or runs the handler. rc is route_match's
     * result, m its match. Fills params->owner. Returns 1 to go on, 0 when
     * it answered (401, 403, 415). */
    int (*http_gate)(conn_t *c, const http_request_t *req, int rc, const route_match_t *m,
                     route_params_t *params);
    /* The same for a valid WebSocket upgrade on route r: 1 to go on (out
     * filled), 0 when it refused the handshake (ws_reject). */
    int (*ws_gate)(conn_t *c, const http_request_t *req, const route_t *r, net_ws_auth_t *out);
} net_hooks_t;

typedef struct net_ctx {
    loop_t *loop;
    const ragws_config_t *cfg;
    worker_stats_t *stats;
    shm_region_t *shm;
    int slot_idx;

    ip_table_t *ips;
    conn_t *conns; /* every connection, for the sweep and the drain */
    uint32_t n_conns;
    conn_t *dirty; /* connections with output to flush before sleeping */
    char *scratch; /* socket reads of upgraded connections land here */
    size_t scratch_cap;
    outbuf_t *ping_frame; /* shared, pre-encoded */
    int draining;

    /* Connections whose streamed body was read for a full bite: read on
     * at the next loop iteration (http.c), so one fast upload does not
     * keep the loop from everything else. */
    conn_t **read_again;
    uint32_t n_read_again, cap_read_again;
    loop_timer_t read_again_timer;

    const route_t *routes;
    size_t n_routes;
    net_hooks_t hooks;
} net_ctx_t;

extern net_ctx_t *net;

#endif
