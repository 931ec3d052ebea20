#include "master/master.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "master/listener.h"
#include "master/dashboard.h"
#include "master/monitor.h"
#include "master/notify.h"
#include "shm/region.h"
#include "base/log.h"
#include "base/loop.h"

#define RESPAWN_MIN_MS 100
#define RESPAWN_MAX_MS 5000
#define QUICK_DEATH_MS 1000 /* a worker dying younger than this backs off */

/* The listening sockets of one address, one per worker position. */
typedef struct lset {
    int fd[SHM_MAX_SLOTS];
    int n;
    char host[256];
    uint16_t port;
} lset_t;

typedef struct master {
    loop_t *loop;
    ragws_config_t *cfg;
    char *const *overrides;
    int n_overrides;
    shm_region_t *shm;
    uint32_t generation; /* the generation that should serve */
    int want_workers;
    int stopping;
    int reloading; /* new generation starting, old still serving */
    int announced_ready;
    uint64_t stop_deadline_ms;
    uint64_t backoff_ms;
    loop_watch_t sig_watch, wake_watch;
    loop_timer_t respawn_timer, monitor_timer, dashboard_timer, watchdog_timer, stop_timer;
    uint64_t watchdog_ms;
    /* The listening sockets every generation inherits (master/listener.h);
     * prev holds the old ones while a reload moves to a new address. */
    lset_t cur, prev;
    int slot_pos[SHM_MAX_SLOTS];   /* worker position (listening socket) of each slot */
    master_worker_fn worker_entry; /* run in every forked worker (cli/main.c gives it) */
} master_t;

static master_t M;

/* Open sockets of the set until it has n (one per worker position). */
static int lset_grow(lset_t *l, int n, char *err, size_t errlen)
{
    while (l->n < n) {
        int fd = listener_open(l->host, l->port, err, errlen);
        if (fd < 0) return -1;
        l->fd[l->n++] = fd;
    }
    return 0;
}

/* Close the master's copies beyond n (workers keep theirs until they exit). */
static void lset_trim(lset_t *l, int n)
{
    while (l->n > n) close(l->fd[--l->n]);
}

/* A position of the current generation no live worker holds. */
static int free_position(void)
{
    for (int p = 0; p < SHM_MAX_SLOTS; p++) {
        int used = 0;
        SHM_FOR_EACH_SLOT (M.shm, i, SHM_LIVE) {
            if (atomic_load(&M.shm->slots[i].generation) == M.generation && M.slot_pos[i] == p) {
                used = 1;
                break;
            }
        }
        if (!used) return p;
    }
    return -1;
}

static uint64_t now_ms(void) { return loop_clock_ns() / 1000000; }

/* Slots of generation gen that are live (state < 0) or in that state. */
static int count_slots(uint32_t gen, int state)
{
    int n = 0;
    SHM_FOR_EACH_SLOT (M.shm, i, state < 0 ? SHM_LIVE : SHM_STATE(state))
        if (atomic_load(&M.shm->slots[i].generation) == gen) n++;
    return n;
}

static int live_slots(void)
{
    int n = 0;
    SHM_FOR_EACH_SLOT (M.shm, i, SHM_LIVE) n++;
    return n;
}

static int spawn_worker(uint32_t gen)
{
    char err[600];
    int pos = free_position();
    if (pos < 0 || lset_grow(&M.cur, pos + 1, err, sizeof err) < 0) {
        log_error("no listening socket for a new worker: %s", pos < 0 ? "no position" : err);
        return -1;
    }
    int idx = shm_slot_next(M.shm, -1, SHM_STATE(SLOT_FREE));
    if (idx < 0) {
        log_error("no free worker slot (%d in use)", SHM_MAX_SLOTS);
        return -1;
    }
    shm_slot_t *s = &M.shm->slots[idx];
    memset(&s->stats, 0, sizeof s->stats);
    atomic_store(&s->generation, gen);
    atomic_store(&s->started_ms, now_ms());
    atomic_store(&s->heartbeat_ms, 0);
    atomic_store(&s->wake_pending, 0);
    atomic_store(&s->state, SLOT_STARTING);
    M.slot_pos[idx] = pos;
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        atomic_store(&s->state, SLOT_FREE);
        return -1;
    }
    if (pid == 0) {
        /* The child keeps the shared region and eventfds, not our loop. */
        close(loop_epoll_fd(M.loop));
        close(M.sig_watch.fd);
        for (int p = 0; p < M.cur.n; p++) /* only our position's socket */
            if (p != pos) close(M.cur.fd[p]);
        lset_trim(&M.prev, 0);
        atomic_store(&s->pid, (int32_t)getpid());
        M.worker_entry(M.cfg, M.shm, idx, gen, M.cur.fd[pos]);
        _exit(0);
    }
    atomic_store(&s->pid, (int32_t)pid);
    log_info("worker %d started (pid %d, generation %u)", idx, (int)pid, gen);
    return 0;
}

/* Bring the current generation up to strength. */
static void fill_generation(void)
{
    if (M.stopping) return;
    int have = count_slots(M.generation, -1);
    for (int i = have; i < M.want_workers; i++)
        if (spawn_worker(M.generation) < 0) break;
}

static void respawn_due(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    (void)t;
    fill_generation();
}

static void signal_generation(uint32_t gen, int sig)
{
    SHM_FOR_EACH_SLOT (M.shm, i, SHM_LIVE) {
        shm_slot_t *s = &M.shm->slots[i];
        if (gen && atomic_load(&s->generation) != gen) continue;
        pid_t pid = atomic_load(&s->pid);
        if (pid > 0) kill(pid, sig);
    }
}

static void check_ready(void)
{
    if (M.stopping) return;
    if (count_slots(M.generation, SLOT_READY) < M.want_workers) return;
    if (M.reloading) {
        /* New generation listens: the old one may now drain. */
        M.reloading = 0;
        /* Old address, or positions beyond the new worker count: the old
         * generation keeps its copies until it has drained. */
        lset_trim(&M.prev, 0);
        lset_trim(&M.cur, M.want_workers);
        SHM_FOR_EACH_SLOT (M.shm, i, SHM_LIVE) {
            shm_slot_t *s = &M.shm->slots[i];
            if (atomic_load(&s->generation) == M.generation) continue;
            kill(atomic_load(&s->pid), SIGTERM);
        }
        log_info("reload done: generation %u serving", M.generation);
        notify_ready();
    } else if (!M.announced_ready) {
        M.announced_ready = 1;
        log_info("ready: %d workers listening on %s:%u", M.want_workers, M.cfg->listen_host,
                 M.cfg->listen_port);
        notify_ready();
    }
}

static void on_wake(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)loop;
    (void)events;
    uint64_t v;
    ssize_t n = read(w->fd, &v, sizeof v);
    (void)n;
    check_ready();
}

static void finish_stop_if_done(void)
{
    if (M.stopping && live_slots() == 0) {
        log_info("all workers gone; exiting");
        loop_stop(M.loop);
    }
}

static void reap_children(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) break;
        int idx = -1;
        SHM_FOR_EACH_SLOT (M.shm, i, SHM_ANY)
            if (atomic_load(&M.shm->slots[i].pid) == pid) idx = i;
        if (idx < 0) continue;
        shm_slot_t *s = &M.shm->slots[idx];
        uint32_t gen = atomic_load(&s->generation);
        uint32_t state = atomic_load(&s->state);
        uint64_t lived = now_ms() - atomic_load(&s->started_ms);
        char why[96];
        if (WIFSIGNALED(status))
            snprintf(why, sizeof why, "killed by signal %d (%s)", WTERMSIG(status),
                     strsignal(WTERMSIG(status)));
        else
            snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(status));
        shm_slot_retire(M.shm, idx);
        if (M.stopping || gen != M.generation) { /* drained, as asked */
            int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            if (clean)
                log_info("worker %d (pid %d, generation %u) %s", idx, (int)pid, gen, why);
            else /* a crash while draining cuts the answers it still had */
                log_error("worker %d (pid %d, generation %u) %s while draining", idx, (int)pid, gen,
                          why);
            continue;
        }
        log_error("worker %d (pid %d) %s after %llu ms; respawning", idx, (int)pid, why,
                  (unsigned long long)lived);
        char msg[160];
        snprintf(msg, sizeof msg, "worker %d (pid %d) %s", idx, (int)pid, why);
        monitor_alert(M.shm, "critical", "worker", msg);
        if (M.reloading && state == SLOT_STARTING) {
            /* The new generation cannot start: keep the old one serving. */
            log_error("reload aborted: a new worker failed to start; keeping generation %u",
                      M.generation - 1);
            signal_generation(M.generation, SIGTERM);
            M.generation--;
            M.reloading = 0;
            if (M.prev.n) { /* back to the old address */
                lset_trim(&M.cur, 0);
                M.cur = M.prev;
                M.prev.n = 0;
            }
            continue;
        }
        /* Immediate respawn, unless it keeps dying young. */
        if (lived < QUICK_DEATH_MS) {
            M.backoff_ms = M.backoff_ms ? M.backoff_ms * 2 : RESPAWN_MIN_MS;
            if (M.backoff_ms > RESPAWN_MAX_MS) M.backoff_ms = RESPAWN_MAX_MS;
        } else {
            M.backoff_ms = 0;
        }
        if (M.backoff_ms)
            loop_timer_start(M.loop, &M.respawn_timer, M.backoff_ms, respawn_due, NULL);
        else
            fill_generation();
    }
    finish_stop_if_done();
}

static void reload(void)
{
    if (M.stopping) return;
    ragws_config_t *next = calloc(1, sizeof *next);
    char err[1024];
    if (!next) return;
    if (config_load(next, M.cfg->path[0] ? M.cfg->path : NULL, M.overrides, M.n_overrides, err,
                    sizeof err) < 0) {
        log_error("reload refused, invalid configuration: %s", err);
        free(next);
        return;
    }
    if (strcmp(next->listen_host, M.cur.host) != 0 || next->listen_port != M.cur.port) {
        /* A new address: bind it now, so that a taken port refuses the
         * reload instead of leaving workers that cannot listen. */
        lset_t l = {.n = 0, .port = next->listen_port};
        snprintf(l.host, sizeof l.host, "%s", next->listen_host);
        if (listener_probe(l.host, l.port, err, sizeof err) < 0 ||
            lset_grow(&l, config_worker_count(next), err, sizeof err) < 0) {
            lset_trim(&l, 0);
            log_error("reload refused: %s", err);
            free(next);
            return;
        }
        lset_trim(&M.prev, 0);
        M.prev = M.cur;
        M.cur = l;
    }
    if (next->ring_size != M.cfg->ring_size)
        log_warn("shm.ring_size changes need a restart; keeping %zu bytes", M.cfg->ring_size);
    next->ring_size = M.cfg->ring_size;
    notify_reloading();
    log_info("reloading: starting generation %u", M.generation + 1);
    free(M.cfg);
    M.cfg = next;
    log_setup(next->log_format == LOG_FORMAT_JSON, next->log_level, "master");
    M.want_workers = config_worker_count(next);
    M.reloading = 1;
    M.generation++;
    fill_generation();
}

static void stop_timeout(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    (void)t;
    log_warn("workers still running past the drain timeout; killing them");
    signal_generation(0, SIGKILL);
}

static void begin_stop(int sig)
{
    if (M.stopping) return;
    M.stopping = 1;
    log_info("%s: stopping (drain up to %u ms)", strsignal(sig), M.cfg->drain_timeout_ms);
    notify_stopping();
    signal_generation(0, SIGTERM);
    loop_timer_start(M.loop, &M.stop_timer, M.cfg->drain_timeout_ms + 5000, stop_timeout, NULL);
    finish_stop_if_done();
}

static void on_signal(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)loop;
    (void)events;
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof si) == sizeof si) {
        switch (si.ssi_signo) {
        case SIGCHLD: reap_children(); break;
        case SIGHUP: reload(); break;
        case SIGTERM:
        case SIGINT: begin_stop((int)si.ssi_signo); break;
        case SIGUSR2: /* nginx's binary upgrade: not implemented, never a stop */
            log_info("SIGUSR2 ignored: binary upgrade is not supported (SIGHUP reloads)");
            break;
        default: break;
        }
    }
}

static void monitor_due(loop_t *loop, loop_timer_t *t)
{
    if (!M.stopping) monitor_tick(M.shm, M.cfg);
    loop_timer_start(loop, t, M.cfg->monitor_interval_ms, monitor_due, NULL);
}

static void dashboard_due(loop_t *loop, loop_timer_t *t)
{
    if (!M.stopping) dashboard_tick(M.shm, M.cfg, loop_now_ms(loop));
    loop_timer_start(loop, t, M.cfg->dashboard_metrics_interval_ms, dashboard_due, NULL);
}

static void watchdog_due(loop_t *loop, loop_timer_t *t)
{
    notify_watchdog();
    loop_timer_start(loop, t, M.watchdog_ms, watchdog_due, NULL);
}

int master_run(ragws_config_t *cfg, char *const *overrides, int n_overrides, master_worker_fn entry)
{
    log_setup(cfg->log_format == LOG_FORMAT_JSON, cfg->log_level, "master");
    M.cfg = cfg;
    M.overrides = overrides;
    M.n_overrides = n_overrides;
    M.worker_entry = entry;
    M.shm = shm_create(cfg->ring_size);
    if (!M.shm) {
        log_error("shared memory: %s", strerror(errno));
        return 1;
    }
    M.loop = loop_new();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (!M.loop || sfd < 0) {
        log_error("master start: %s", strerror(errno));
        return 1;
    }
    loop_watch_add(M.loop, &M.sig_watch, sfd, EPOLLIN, on_signal, NULL);
    loop_watch_add(M.loop, &M.wake_watch, M.shm->master_eventfd, EPOLLIN, on_wake, NULL);

    char err[600];
    snprintf(M.cur.host, sizeof M.cur.host, "%s", cfg->listen_host);
    M.cur.port = cfg->listen_port;
    /* A port in use is fatal, before any worker starts. */
    if (listener_probe(M.cur.host, M.cur.port, err, sizeof err) < 0 ||
        lset_grow(&M.cur, config_worker_count(cfg), err, sizeof err) < 0) {
        log_error("%s", err);
        return 1;
    }

    M.generation = 1;
    M.want_workers = config_worker_count(cfg);
    log_info("starting %d workers, listen %s:%u", M.want_workers, cfg->listen_host,
             cfg->listen_port);
    /* The first figures before any worker: a dashboard never connects
     * to an empty snapshot. */
    dashboard_tick(M.shm, cfg, loop_now_ms(M.loop));
    fill_generation();
    loop_timer_start(M.loop, &M.monitor_timer, cfg->monitor_interval_ms, monitor_due, NULL);
    loop_timer_start(M.loop, &M.dashboard_timer, cfg->dashboard_metrics_interval_ms,
                     dashboard_due, NULL);
    M.watchdog_ms = notify_watchdog_period_ms();
    if (M.watchdog_ms)
        loop_timer_start(M.loop, &M.watchdog_timer, M.watchdog_ms, watchdog_due, NULL);

    loop_run(M.loop);
    loop_free(M.loop);
    close(sfd);
    lset_trim(&M.cur, 0);
    lset_trim(&M.prev, 0);
    free(M.cfg);
    return 0;
}
