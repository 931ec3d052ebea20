#include "worker/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "worker/svc/auth.h"
#include "worker/svc/conversation.h"
#include "worker/svc/ingest.h"
#include "worker/svc/ingest_ops.h"
#include "io/pg.h"
#include "worker/svc/llm.h"
#include "worker/svc/rag.h"
#include "worker/svc/svc.h"
#include "worker/svc/webhook.h"
#include "worker/net/conn.h"
#include "worker/net/handoff.h"
#include "worker/net/ip_table.h"
#include "worker/net/pubsub.h"
#include "worker/net/net.h"
#include "worker/net/ws.h"
#include "worker/api/gate.h"
#include "worker/api/routes.h"

#define RING_DRAIN_BUDGET 8192 /* records per iteration before yielding */
#define SCRATCH_BYTES     (64 * 1024)

static worker_t the_worker;
worker_t *wk = &the_worker;
static net_ctx_t the_net;

static loop_watch_t signal_watch;

static void db_availability(int ok) { atomic_store(&wk->slot->db_ok, (uint32_t)ok); }

/* The services' context (worker/svc/svc.h), once wk is set up. */
static void svc_setup(void)
{
    *svc = (svc_ctx_t){.loop = wk->loop,
                       .cfg = wk->cfg,
                       .stats = wk->stats,
                       .shm = wk->shm,
                       .slot_idx = wk->slot_idx,
                       .draining = &wk->draining,
                       .publish = worker_publish};
}

int worker_publish(const char *channel, size_t clen, const char *payload, size_t plen)
{
    return net_publish(channel, clen, payload, plen);
}

/* The drain state, in every context that reads it. */
static void set_draining(int v)
{
    wk->draining = v;
    net->draining = v;
}

/* ---- ring -> local subscribers ---- */

static void handle_lap(const ring_lap_t *lap)
{
    uint64_t missed = lap->to_seq - lap->from_seq;
    stats_add(&wk->stats->ring_overruns, 1);
    log_warn("lapped on the broadcast ring: %llu records lost (seq %llu..%llu)",
             (unsigned long long)missed, (unsigned long long)lap->from_seq,
             (unsigned long long)lap->to_seq - 1);
    /* Tell the subscribers of the channels we know were lost; if the side
     * index forgot some records, everybody may have lost something. */
    enum { MAX_TRACKED = 64 };
    uint32_t hashes[MAX_TRACKED];
    uint64_t counts[MAX_TRACKED];
    int n = 0, unknown = missed > 100000;
    for (uint64_t s = lap->from_seq; !unknown && s < lap->to_seq; s++) {
        uint32_t h;
        if (!ring_seq_channel_hash(shm_ring(wk->shm), s, &h)) {
            unknown = 1;
            break;
        }
        int j = 0;
        while (j < n && hashes[j] != h) j++;
        if (j == n) {
            if (n == MAX_TRACKED) {
                unknown = 1;
                break;
            }
            hashes[n] = h;
            counts[n++] = 0;
        }
        counts[j]++;
    }
    if (unknown) {
        pubsub_resync_all(missed);
        return;
    }
    for (int j = 0; j < n; j++) pubsub_resync_hash(hashes[j], counts[j]);
}

static void ring_drain(void)
{
    ring_t *r = shm_ring(wk->shm);
    for (int i = 0; i < RING_DRAIN_BUDGET; i++) {
        ring_entry_t e;
        ring_lap_t lap;
        int rc = ring_read(r, &wk->reader, &e, wk->ring_buf, wk->ring_buf_cap, &lap);
        if (rc == RING_EMPTY) {
            stats_set(&wk->stats->ring_lag, 0);
            return;
        }
        if (rc == RING_LAPPED) {
            handle_lap(&lap);
            continue;
        }
        /* Workers among themselves (ingestion cancel and wake-up): never
         * a client's channel. */
        if (e.channel_len == sizeof INGEST_CH_CONTROL - 1 &&
            memcmp(e.channel, INGEST_CH_CONTROL, e.channel_len) == 0)
            ingest_on_control(e.payload, e.payload_len);
        else
            pubsub_deliver(e.channel, e.channel_len, e.payload, e.payload_len, e.publish_ns);
    }
    uint64_t last = ring_last_seq(r);
    stats_set(&wk->stats->ring_lag,
              last >= wk->reader.next_seq ? last - wk->reader.next_seq + 1 : 0);
    /* More waiting: continue after the other connections had a turn. */
    if (!loop_timer_armed(&wk->ring_again))
        loop_timer_start(wk->loop, &wk->ring_again, 0, (loop_timer_cb)ring_drain, NULL);
}

static void on_wake(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)loop;
    (void)w;
    (void)events;
    shm_slot_wake_ack(wk->slot);
    ring_drain();
}

/* ---- shutdown and reload: drain ---- */

static void finish(void)
{
    if (wk->stopping) return;
    wk->stopping = 1;
    ingest_stop(); /* tasks still running: their leases lapse, another worker takes them */
    webhook_stop();
    log_info("worker exiting (%u connections left)", net->n_conns);
    while (net->conns) conn_close(net->conns, "worker exit");
    loop_stop(wk->loop);
}

static void close_all_going_away(void)
{
    for (conn_t *c = net->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_WS)
            ws_close(c, 1001, "server shutting down");
        else if (!c->out.len)
            conn_close(c, "server shutting down");
        else
            c->flags |= CF_CLOSE_AFTER_FLUSH;
    }
}

/* Drain: answers in flight finish (up to drain_timeout) while new
 * questions are refused with SHUTTING_DOWN (rag.c), then every client gets
 * close 1001, then the worker exits once they are gone (or after a short
 * grace for the close handshake). */
#define CLOSE_GRACE_MS 3000

static void drain_step(uint64_t now)
{
    if (!wk->draining) return;
    /* LLM streams too: an answer's follow-up questions are part of it. */
    int idle =
        rag_jobs_running() == 0 && llm_active_streams() == 0 && ingest_local_running() == 0 &&
        webhook_inflight() == 0;
    if (wk->draining == 1 && (idle || now >= wk->drain_deadline_ms)) {
        set_draining(2);
        close_all_going_away();
        uint64_t grace =
            wk->cfg->drain_timeout_ms < CLOSE_GRACE_MS ? wk->cfg->drain_timeout_ms : CLOSE_GRACE_MS;
        wk->drain_deadline_ms = now + grace;
    }
    if (wk->draining == 2 && (!net->n_conns || now >= wk->drain_deadline_ms)) finish();
}

/* A READY worker of a newer generation (a reload is under way), taken in
 * turn; -1 when there is none (a stop). */
static int newer_ready_slot(void)
{
    static int next;
    int first = -1;
    SHM_FOR_EACH_SLOT(wk->shm, i, SHM_STATE(SLOT_READY))
    {
        if (atomic_load(&wk->shm->slots[i].generation) <= wk->generation) continue;
        if (i >= next) {
            next = i + 1;
            return i;
        }
        if (first < 0) first = i;
    }
    if (first >= 0) next = first + 1;
    return first;
}

/* On reload, connections accepted but still in HTTP (a handshake not yet
 * read, an idle keep-alive) go to the new generation with the bytes read
 * so far, instead of a reset or a 503: no handshake is lost to a reload. */
static void hand_over_http(void)
{
    uint32_t n = 0;
    for (conn_t *c = net->conns, *next; c; c = next) {
        next = c->next;
        if (c->state != CONN_HTTP || (c->flags & CF_HTTP_PENDING) || c->body || c->out.len) continue;
        int slot = newer_ready_slot();
        if (slot < 0) break;
        if (handoff_send(c, slot) == 0) n++;
    }
    if (n) log_debug("handed %u HTTP connections to the new generation", n);
}

static void begin_drain(void)
{
    if (wk->draining) return;
    set_draining(1);
    wk->drain_deadline_ms = loop_now_ms(wk->loop) + wk->cfg->drain_timeout_ms;
    if (wk->listen_fd >= 0) {
        loop_watch_del(wk->loop, &wk->listen_watch);
        close(wk->listen_fd);
        wk->listen_fd = -1;
    }
    hand_over_http();
    atomic_store(&wk->slot->state, SLOT_DRAINING);
    shm_notify_master(wk->shm);
    log_info("draining %u connections, %u answers in flight (drain_timeout %u ms)", net->n_conns,
             rag_jobs_running(), wk->cfg->drain_timeout_ms);
    drain_step(loop_now_ms(wk->loop));
}

static void on_signal(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)loop;
    (void)events;
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) begin_drain();
    }
}

static void sweep(loop_t *loop, loop_timer_t *t)
{
    uint64_t now = loop_now_ms(loop);
    atomic_store_explicit(&wk->slot->heartbeat_ms, now, memory_order_relaxed);
    for (conn_t *c = net->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_HTTP) {
            /* A REST answer being computed is not an idle connection. */
            if (now >= c->deadline_ms && !(c->flags & CF_HTTP_PENDING)) {
                if (!(c->flags & CF_HAD_REQUEST)) stats_add(&net->stats->handshake_timeouts, 1);
                conn_close(c, c->flags & CF_HAD_REQUEST ? "keep-alive idle timeout"
                                                        : "handshake timeout");
            }
        } else if (c->state == CONN_WS) {
            ws_sweep(c, now);
        }
    }
    drain_step(now);
    if (wk->stopping) return;
    loop_timer_start(loop, t, wk->sweep_every_ms, sweep, NULL);
}

static void before_sleep(loop_t *loop, void *data)
{
    (void)loop;
    (void)data;
    conn_flush_dirty();
}

static uint64_t min3(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* The contexts: the worker's own and the transport's (net), with the
 * route table and the auth hooks of worker/api. */
static void setup_contexts(const ragws_config_t *cfg, shm_region_t *shm, int slot_idx,
                           uint32_t generation)
{
    wk->cfg = cfg;
    wk->shm = shm;
    wk->slot_idx = slot_idx;
    wk->slot = &shm->slots[slot_idx];
    wk->stats = &wk->slot->stats;
    wk->generation = generation;
    wk->loop = loop_new();
    wk->ring_buf_cap = ring_max_record(shm_ring(shm)) + 64;
    wk->ring_buf = malloc(wk->ring_buf_cap);

    net = &the_net;
    net->loop = wk->loop;
    net->cfg = cfg;
    net->stats = wk->stats;
    net->shm = shm;
    net->slot_idx = slot_idx;
    net->ips = ip_table_new();
    net->scratch_cap = SCRATCH_BYTES;
    net->scratch = malloc(net->scratch_cap);
    static const char ping[2] = {(char)0x89, 0x00};
    net->ping_frame = outbuf_new(2);
    net->routes = api_routes;
    net->n_routes = api_n_routes;
    net->hooks.http_gate = gate_http;
    net->hooks.ws_gate = gate_ws;
    if (!wk->loop || !net->ips || !net->scratch || !wk->ring_buf || !net->ping_frame) {
        log_error("worker start: out of memory");
        _exit(1);
    }
    memcpy(net->ping_frame->data, ping, 2);
    wk->sweep_every_ms =
        min3(cfg->handshake_timeout_ms, cfg->keepalive_interval_ms, cfg->keepalive_timeout_ms) / 4;
    if (wk->sweep_every_ms < 20) wk->sweep_every_ms = 20;
    if (wk->sweep_every_ms > 250) wk->sweep_every_ms = 250;
    svc_setup();
}

static int setup_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    loop_watch_add(wk->loop, &signal_watch, sfd, EPOLLIN, on_signal, NULL);
    return sfd;
}

/* Auth (keys and auth.endpoints against the routes), LLM, PostgreSQL,
 * the hand-over socket, the ring and the listener. Exits on failure. */
static void start_services(const ragws_config_t *cfg, shm_region_t *shm, int listen_fd)
{
    char err[512];
    if (auth_init(cfg, err, sizeof err) < 0 || routes_check_config(cfg, err, sizeof err) < 0) {
        log_error("%s", err);
        _exit(2);
    }
    if (llm_init(wk->loop, cfg) < 0) {
        log_error("LLM client could not start");
        _exit(2);
    }
    if (webhook_start() < 0) _exit(2); /* logged; needs io/curl (llm_init) */
    char conninfo[PATH_MAX + 256];
    if (db_resolve_conninfo(cfg, conninfo, sizeof conninfo) < 0 ||
        db_start(wk->loop, cfg, conninfo, db_availability) < 0) {
        log_error("PostgreSQL client could not start");
        _exit(2);
    }
    if (handoff_listen() < 0) {
        log_error("handoff socket: out of memory");
        _exit(2);
    }
    ring_reader_init(shm_ring(shm), &wk->reader);
    loop_watch_add(wk->loop, &wk->wake_watch, wk->slot->eventfd, EPOLLIN, on_wake, NULL);
    /* The master's socket of our position, kept across generations: the
     * worker it had before us may still accept from it while it drains. */
    wk->listen_fd = listen_fd;
    if (loop_watch_add(wk->loop, &wk->listen_watch, wk->listen_fd, EPOLLIN, conn_accept_ready,
                       NULL) < 0) {
        log_error("listening socket: %s", strerror(errno));
        _exit(2);
    }
}

void worker_main(const ragws_config_t *cfg, shm_region_t *shm, int slot_idx, uint32_t generation,
                 int listen_fd)
{
    char role[32];
    snprintf(role, sizeof role, "worker %d", slot_idx);
    log_setup(cfg->log_format == LOG_FORMAT_JSON, cfg->log_level, role);
    /* If the master dies, so do we: no orphan keeps the port. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1) _exit(1);

    setup_contexts(cfg, shm, slot_idx, generation);
    int sfd = setup_signals();
    start_services(cfg, shm, listen_fd);

    ingest_start();
    loop_set_before_sleep(wk->loop, before_sleep, NULL);
    loop_timer_start(wk->loop, &wk->sweep_timer, wk->sweep_every_ms, sweep, NULL);

    atomic_store(&wk->slot->heartbeat_ms, loop_now_ms(wk->loop));
    atomic_store(&wk->slot->state, SLOT_READY);
    shm_notify_master(shm);
    log_debug("listening on %s:%u", cfg->listen_host, cfg->listen_port);

    loop_run(wk->loop);

    conn_flush_dirty();
    conv_shutdown(); /* its jobs wait on PostgreSQL or the LLM */
    webhook_stop();
    db_stop();
    llm_shutdown();
    auth_shutdown();
    pubsub_free_all();
    ip_table_free(net->ips);
    outbuf_unref(net->ping_frame);
    free(net->scratch);
    free(net->read_again); /* what a last upload left queued */
    free(wk->ring_buf);
    loop_free(wk->loop);
    close(sfd);
    exit(0);
}
