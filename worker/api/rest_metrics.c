/* GET /metrics: Prometheus text format, summed over all workers from the
 * shared statistics slots (no worker is asked anything), plus the process_*
 * figures of the master and its live workers read from /proc. Names follow
 * the Prometheus conventions (base units, _total counters) and
 * `promtool check metrics` accepts the output; README lists them. */
#include <dirent.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/version.h"
#include "shm/region.h"
#include "worker/api/rest.h"

/* The text is a few KiB per worker slot at most: far below this bound. */
#define METRICS_MAX_BYTES (4u << 20)

/* Out of memory while rendering: abort, as for any small allocation. */
#define sb_printf(b, ...)                                                                          \
    do {                                                                                           \
        if (buf_printf((b), __VA_ARGS__) < 0) abort();                                             \
    } while (0)

/* A Prometheus histogram in seconds from n microsecond buckets; count is
 * the sum of the buckets (the +Inf one). */
static void histogram(buf_t *b, const char *name, const char *help, const _Atomic uint64_t *buckets,
                      const uint64_t *bounds_us, int n, uint64_t sum_us)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < n; i++) {
        cum += stats_get(&buckets[i]);
        if (i < n - 1)
            sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, (double)bounds_us[i] / 1e6,
                      (unsigned long long)cum);
        else
            sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    sb_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, (double)sum_us / 1e6, name,
              (unsigned long long)cum);
}

/* ---- process_* of the master and its live workers, from /proc ---- */

typedef struct proc_totals {
    double cpu_seconds; /* utime+stime (+ reaped children's, for the master) */
    uint64_t rss_bytes;
    uint64_t open_fds;
    double start_time; /* the master's, seconds since the epoch */
} proc_totals_t;

static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long bt = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %llu", &bt) == 1) break;
    fclose(f);
    return (double)bt;
}

static uint64_t count_fds(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d) return 0;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n > 0 ? n - (pid == getpid()) : 0; /* not the fd opendir itself holds */
}

/* Adds one process; with_children also counts the CPU of reaped children
 * (the master's dead workers), which keeps the CPU counter monotonic. */
static void add_proc(proc_totals_t *t, int pid, int with_children, int is_master)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return;
    unsigned long long ut, st, cut, cst, start, rss;
    /* fields 3.. after ") ": state ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime cutime cstime prio nice threads
     * itreal starttime vsize rss */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu "
               "%*d %*d %*d %*d %llu %*u %llu",
               &ut, &st, &cut, &cst, &start, &rss) != 6)
        return;
    double hz = (double)sysconf(_SC_CLK_TCK);
    t->cpu_seconds += (double)(ut + st + (with_children ? cut + cst : 0)) / hz;
    t->rss_bytes += rss * (uint64_t)sysconf(_SC_PAGESIZE);
    t->open_fds += count_fds(pid);
    if (is_master) t->start_time = boot_time() + (double)start / hz;
}

static void process_metrics(shm_region_t *shm, buf_t *b)
{
    proc_totals_t t = {0};
    add_proc(&t, (int)getppid(), 1, 1);
    SHM_FOR_EACH_SLOT (shm, i, SHM_LIVE) {
        int pid = (int)atomic_load(&shm->slots[i].pid);
        if (pid > 0) add_proc(&t, pid, 0, 0);
    }
    sb_printf(b,
              "# HELP process_cpu_seconds_total User and system CPU time of the master "
              "and its workers (exited workers included)\n"
              "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n"
              "# HELP process_resident_memory_bytes Resident memory, summed over the "
              "master and its workers\n# TYPE process_resident_memory_bytes gauge\n"
              "process_resident_memory_bytes %llu\n"
              "# HELP process_open_fds Open file descriptors, summed over the master "
              "and its workers\n# TYPE process_open_fds gauge\nprocess_open_fds %llu\n"
              "# HELP process_start_time_seconds Start time of the master since the "
              "epoch\n# TYPE process_start_time_seconds gauge\n"
              "process_start_time_seconds %.2f\n",
              t.cpu_seconds, (unsigned long long)t.rss_bytes, (unsigned long long)t.open_fds,
              t.start_time);
}

/* The metric name of a shared statistic, where the field name is not one
 * in base units (bytes_in -> received_bytes ...); NULL: not exported. */
/* The tasks table's counts by state (all nodes), as the workers' queue
 * pollers last read them, and this node's ingestion places in use. */
static void ingest_metrics(shm_region_t *shm, buf_t *b)
{
    const shm_ingest_t *g = &shm->ingest;
    sb_printf(b, "# HELP ragws_ingest_tasks Ingestion tasks by state (tasks table, all nodes)\n"
                 "# TYPE ragws_ingest_tasks gauge\n");
    const struct {
        const char *state;
        const _Atomic uint64_t *v;
    } st[] = {{"queued", &g->queued},
              {"active", &g->active},
              {"completed", &g->completed},
              {"failed", &g->failed},
              {"cancelled", &g->cancelled}};
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
        sb_printf(b, "ragws_ingest_tasks{state=\"%s\"} %llu\n", st[i].state,
                  (unsigned long long)atomic_load(st[i].v));
    sb_printf(b,
              "# HELP ragws_ingest_claimed Ingestion places held on this node (claimed tasks) "
              "(bound: ingest.max_parallel)\n# TYPE ragws_ingest_claimed gauge\n"
              "ragws_ingest_claimed %u\n",
              (unsigned)atomic_load(&g->running));
}

static const char *exported_name(const char *field)
{
    if (strcmp(field, "bytes_in") == 0) return "received_bytes";
    if (strcmp(field, "bytes_out") == 0) return "sent_bytes";
    if (strcmp(field, "queries") == 0) return NULL;       /* the histogram's _count */
    if (strcmp(field, "query_time_us") == 0) return NULL; /* the histogram's _sum */
    if (strcmp(field, "ingest_task_ms") == 0) return NULL; /* in seconds, below */
    return field;
}

/* Per worker slot: the slot index is the label (bounded, stable over
 * respawns); pid and generation are values, not labels, so a respawn or a
 * reload makes no new series. Returns the workers listening. */
static int per_slot(shm_region_t *shm, buf_t *b)
{
    static const struct {
        const char *name, *help;
    } m[3] = {
        {"ragws_worker_connections", "Open WebSocket connections per worker slot"},
        {"ragws_worker_pid", "Process id of the worker in this slot"},
        {"ragws_worker_generation", "Configuration generation of the worker in this slot"},
    };
    int workers = 0;
    for (int k = 0; k < 3; k++) {
        sb_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", m[k].name, m[k].help, m[k].name);
        SHM_FOR_EACH_SLOT (shm, i, SHM_LIVE) {
            shm_slot_t *s = &shm->slots[i];
            uint32_t st = atomic_load(&s->state);
            int pid = (int)atomic_load(&s->pid);
            /* A slot being forked has no pid yet: not a worker to show. */
            if (pid <= 0) continue;
            if (k == 0 && st == SLOT_READY) workers++;
            unsigned long long v = k == 0   ? stats_get(&s->stats.ws_connections)
                                   : k == 1 ? (unsigned long long)pid
                                            : atomic_load(&s->generation);
            sb_printf(b, "%s{slot=\"%d\"} %llu\n", m[k].name, i, v);
        }
    }
    return workers;
}

char *metrics_render(shm_region_t *shm, size_t *len)
{
    worker_stats_t t;
    shm_stats_total(shm, &t);
    buf_t b = BUF_INIT(METRICS_MAX_BYTES);
    if (buf_reserve(&b, 8192) < 0) abort();

    sb_printf(&b,
              "# HELP ragws_build_info Version of the running ragws\n"
              "# TYPE ragws_build_info gauge\nragws_build_info{version=\"%s\"} 1\n",
              RAGWS_VERSION);
    const char *mn;
#define EMIT_gauge(name, help)                                                                     \
    if ((mn = exported_name(#name)))                                                               \
        sb_printf(&b, "# HELP ragws_%s %s\n# TYPE ragws_%s gauge\nragws_%s %llu\n", mn, help, mn,  \
                  mn, (unsigned long long)stats_get(&t.name));
#define EMIT_counter(name, help)                                                                   \
    if ((mn = exported_name(#name)))                                                               \
        sb_printf(&b,                                                                              \
                  "# HELP ragws_%s_total %s\n# TYPE ragws_%s_total counter\n"                      \
                  "ragws_%s_total %llu\n",                                                         \
                  mn, help, mn, mn, (unsigned long long)stats_get(&t.name));
#define EMIT(name, type, help) EMIT_##type(name, help)
    STATS_FIELDS(EMIT)
#undef EMIT
    sb_printf(&b,
              "# HELP ragws_ingest_task_seconds_total Total run time of finished ingestion "
              "tasks\n# TYPE ragws_ingest_task_seconds_total counter\n"
              "ragws_ingest_task_seconds_total %.3f\n",
              (double)stats_get(&t.ingest_task_ms) / 1000.0);

    histogram(&b, "ragws_query_duration_seconds",
              "Time to answer a question, from its arrival to the complete answer", t.query_buckets,
              stats_query_bounds_us, STATS_QUERY_BUCKETS, stats_get(&t.query_time_us));

    histogram(&b, "ragws_broadcast_latency_seconds",
              "Time from publish to bytes handed to the kernel", t.latency_buckets,
              stats_latency_bounds_us, STATS_LAT_BUCKETS, stats_get(&t.latency_sum_us));
    histogram(&b, "ragws_token_latency_seconds",
              "Time from an LLM token's arrival to its frame handed to the kernel",
              t.token_latency_buckets, stats_latency_bounds_us, STATS_LAT_BUCKETS,
              stats_get(&t.token_latency_sum_us));

    int workers = per_slot(shm, &b);
    ring_t *r = shm_ring(shm);
    sb_printf(&b,
              "# HELP ragws_workers Workers listening\n# TYPE ragws_workers gauge\n"
              "ragws_workers %d\n",
              workers);
    sb_printf(&b,
              "# HELP ragws_ring_last_seq Last sequence number committed to the ring\n"
              "# TYPE ragws_ring_last_seq gauge\nragws_ring_last_seq %llu\n",
              (unsigned long long)ring_last_seq(r));
    sb_printf(&b,
              "# HELP ragws_ring_publishes_total Records published into the ring\n"
              "# TYPE ragws_ring_publishes_total counter\nragws_ring_publishes_total %llu\n",
              (unsigned long long)atomic_load(&shm->publishes));
    sb_printf(&b,
              "# HELP ragws_ring_recovered_locks_total Ring locks recovered from a dead writer\n"
              "# TYPE ragws_ring_recovered_locks_total counter\n"
              "ragws_ring_recovered_locks_total %llu\n",
              (unsigned long long)ring_recovered_locks(r));
    ingest_metrics(shm, &b);
    process_metrics(shm, &b);
    *len = b.len;
    return buf_take(&b);
}
