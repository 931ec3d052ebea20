#include "master/dashboard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "protocol/monitor.h"

#define MINUTE_MS 60000u
/* dashboard.metrics_interval >= 100 ms: 600 samples a minute at most. */
#define SAMPLES 1024u

typedef struct sample {
    uint64_t at_ms;
    uint64_t completed, failed, cancelled, task_ms;
} sample_t;

static struct {
    sample_t s[SAMPLES];
    unsigned head, n; /* s[head] is the oldest kept */
    int queue_over, failures_over;
    ingest_figures_t latest;
} D;

static const sample_t *sample_at(unsigned i) { return &D.s[(D.head + i) % SAMPLES]; }

static void push(const sample_t *cur)
{
    if (D.n == SAMPLES) {
        D.head = (D.head + 1) % SAMPLES;
        D.n--;
    }
    D.s[(D.head + D.n) % SAMPLES] = *cur;
    D.n++;
}

/* The newest sample at least a minute old (the oldest one while the
 * server is younger than that); older ones are dropped. */
static const sample_t *minute_base(uint64_t now_ms)
{
    while (D.n > 1 && sample_at(1)->at_ms + MINUTE_MS <= now_ms) {
        D.head = (D.head + 1) % SAMPLES;
        D.n--;
    }
    return sample_at(0);
}

static uint64_t minus(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

static void figures(shm_region_t *shm, const ragws_config_t *cfg, uint64_t now_ms,
                    ingest_figures_t *f, uint64_t *failed_minute)
{
    worker_stats_t tot;
    shm_stats_total(shm, &tot);
    sample_t cur = {
        .at_ms = now_ms,
        .completed = stats_get(&tot.ingest_completed),
        .failed = stats_get(&tot.ingest_failed),
        .cancelled = stats_get(&tot.ingest_cancelled),
        .task_ms = stats_get(&tot.ingest_task_ms),
    };
    push(&cur);
    const sample_t *base = minute_base(now_ms);
    uint64_t done = minus(cur.completed, base->completed);
    uint64_t finished =
        done + minus(cur.failed, base->failed) + minus(cur.cancelled, base->cancelled);
    uint64_t window = now_ms - base->at_ms;
    /* A window a little over a minute (the interval does not divide it)
     * is scaled back to one minute. */
    f->tasks_per_minute =
        window > MINUTE_MS ? (double)done * MINUTE_MS / (double)window : (double)done;
    f->average_task_seconds =
        finished ? (double)minus(cur.task_ms, base->task_ms) / 1000.0 / (double)finished : 0;
    *failed_minute = minus(cur.failed, base->failed);

    const shm_ingest_t *g = &shm->ingest;
    f->queued_tasks = atomic_load(&g->queued);
    f->active_tasks = atomic_load(&g->active);
    f->completed_tasks = atomic_load(&g->completed);
    f->failed_tasks = atomic_load(&g->failed);
    f->cancelled_tasks = atomic_load(&g->cancelled);
    f->queue_length = f->queued_tasks;
    f->pages_processed = stats_get(&tot.ingest_pages);
    f->errors = cur.failed;
    f->max_parallel = cfg->ingest_max_parallel;
    f->workers_busy = 0;
    SHM_FOR_EACH_SLOT(shm, i, SHM_LIVE)
    {
        if (stats_get(&shm->slots[i].stats.ingest_running)) f->workers_busy++;
    }
}

static void publish(shm_region_t *shm, const char *channel, const char *msg)
{
    if (shm_publish(shm, channel, strlen(channel), msg, strlen(msg)) < 0)
        log_warn("dashboard message too large for the ring");
}

/* Publish msg and keep it as the kind's snapshot; frees it. */
static void publish_kept(shm_region_t *shm, const char *channel, int kind, char *msg)
{
    if (!msg) {
        log_warn("dashboard figures could not be encoded");
        return;
    }
    publish(shm, channel, msg);
    if (shm_snapshot_set(shm, kind, msg, strlen(msg)) < 0)
        log_warn("dashboard snapshot over %d bytes", SHM_SNAPSHOT_MAX);
    free(msg);
}

/* threshold_exceeded once when value goes over limit; *over remembers it
 * until the value is back under. */
static void crossing(shm_region_t *shm, const char *ts, int *over, uint64_t value, uint64_t limit,
                     const char *what)
{
    if (value <= limit) {
        *over = 0;
        return;
    }
    if (*over) return;
    *over = 1;
    char m[160];
    snprintf(m, sizeof m, "%s: %llu, over the threshold of %llu", what, (unsigned long long)value,
             (unsigned long long)limit);
    char *msg = ingest_notification(ts, "warning", "threshold_exceeded", m, 0);
    if (msg) publish(shm, INGEST_CH_DASHBOARD, msg);
    free(msg);
    log_warn("%s", m);
}

void dashboard_tick(shm_region_t *shm, const ragws_config_t *cfg, uint64_t now_ms)
{
    ingest_figures_t f = {0};
    uint64_t failed_minute = 0;
    figures(shm, cfg, now_ms, &f, &failed_minute);
    D.latest = f;
    char ts[40];
    monitor_timestamp(ts, sizeof ts);
    publish_kept(shm, INGEST_CH_DASHBOARD, SHM_SNAP_DASHBOARD, ingest_dashboard_update(ts, &f));
    publish_kept(shm, INGEST_CH_METRICS, SHM_SNAP_METRICS, ingest_metrics(ts, &f));
    crossing(shm, ts, &D.queue_over, f.queue_length, cfg->dashboard_queue_threshold,
             "queue length");
    crossing(shm, ts, &D.failures_over, failed_minute, cfg->dashboard_failure_threshold,
             "failed tasks in the last minute");
}

const ingest_figures_t *dashboard_latest(void) { return &D.latest; }
