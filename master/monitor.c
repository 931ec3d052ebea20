#include "master/monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "master/notify.h"
#include "protocol/monitor.h"
#include "base/log.h"
#include "base/loop.h"

/* Previous sample, for rates over the interval. */
static struct {
    int have;
    uint64_t cpu_busy, cpu_total;
    uint64_t at_ns;
    worker_stats_t stats;
} prev;

static int read_cpu(uint64_t *busy, uint64_t *total)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 4) return -1;
    *total = 0;
    for (int i = 0; i < 8; i++) *total += v[i];
    *busy = *total - v[3] - v[4]; /* minus idle and iowait */
    return 0;
}

static double memory_percent(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[128];
    unsigned long long total = 0, avail = 0, v;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemTotal: %llu kB", &v) == 1)
            total = v;
        else if (sscanf(line, "MemAvailable: %llu kB", &v) == 1)
            avail = v;
    }
    fclose(f);
    return total ? 100.0 * (double)(total - avail) / (double)total : 0;
}

static uint64_t rss_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long long size = 0, res = 0;
    int n = fscanf(f, "%llu %llu", &size, &res);
    fclose(f);
    return n == 2 ? res * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* Upper bound of the bucket holding the 99th percentile of the latencies
 * observed during the interval. */
static double p99_ms(const worker_stats_t *now, const worker_stats_t *before)
{
    uint64_t d[STATS_LAT_BUCKETS], total = 0;
    for (int i = 0; i < STATS_LAT_BUCKETS; i++) {
        d[i] = stats_get(&now->latency_buckets[i]) - stats_get(&before->latency_buckets[i]);
        total += d[i];
    }
    if (!total) return 0;
    uint64_t want = total - total / 100, cum = 0;
    for (int i = 0; i < STATS_LAT_BUCKETS - 1; i++) {
        cum += d[i];
        if (cum >= want) return (double)stats_latency_bounds_us[i] / 1000.0;
    }
    return (double)stats_latency_bounds_us[STATS_LAT_BUCKETS - 2] / 1000.0;
}

static void publish(shm_region_t *shm, char *msg)
{
    if (!msg) return;
    if (shm_publish(shm, MONITOR_CHANNEL, strlen(MONITOR_CHANNEL), msg, strlen(msg)) < 0)
        log_warn("monitor message too large for the ring");
    free(msg);
}

void monitor_alert(shm_region_t *shm, const char *severity, const char *service,
                   const char *message)
{
    char ts[40];
    monitor_timestamp(ts, sizeof ts);
    publish(shm, monitor_error_alert(ts, severity, service, message, NULL));
}

/* A counter's growth since the previous sample. */
#define DELTA(now, field) ((double)(stats_get(&(now)->field) - stats_get(&prev.stats.field)))

/* system_metrics from the summed statistics, /proc and the slots; secs is
 * the time since the previous sample (0 for the first one). */
static void sample_metrics(shm_region_t *shm, const worker_stats_t *now, double secs, int cpu_ok,
                           uint64_t busy, uint64_t total, monitor_metrics_t *m)
{
    memset(m, 0, sizeof *m);
    if (prev.have && cpu_ok && total > prev.cpu_total)
        m->cpu_usage = 100.0 * (double)(busy - prev.cpu_busy) / (double)(total - prev.cpu_total);
    m->memory_usage = memory_percent();
    m->active_connections = stats_get(&now->ws_connections);
    m->http_connections = stats_get(&now->http_connections);
    m->ring_lag = stats_get(&now->ring_lag);
    m->ring_overruns = stats_get(&now->ring_overruns);
    m->slow_consumers = stats_get(&now->slow_consumers);
    m->keepalive_timeouts = stats_get(&now->keepalive_timeouts);
    m->errors = stats_get(&now->errors);
    m->rss_bytes = rss_of(getpid());
    SHM_FOR_EACH_SLOT (shm, i, SHM_LIVE) {
        shm_slot_t *s = &shm->slots[i];
        if (atomic_load(&s->state) == SLOT_READY) m->workers++;
        m->rss_bytes += rss_of(atomic_load(&s->pid));
    }
    if (secs > 0) {
        m->messages_in_per_second = DELTA(now, messages_in) / secs;
        m->messages_out_per_second = DELTA(now, messages_out) / secs;
        m->queries_per_minute = DELTA(now, queries) * 60.0 / secs;
        double q = DELTA(now, queries);
        m->average_response_time = q > 0 ? DELTA(now, query_time_us) / q / 1e6 : 0;
        m->broadcast_latency_p99_ms = p99_ms(now, &prev.stats);
    }
}

/* service_status: one per worker, judged by its loop heartbeat. */
static void publish_worker_status(shm_region_t *shm, const char *ts, uint64_t now_ms)
{
    SHM_FOR_EACH_SLOT (shm, i, SHM_LIVE) {
        shm_slot_t *s = &shm->slots[i];
        uint32_t st = atomic_load(&s->state);
        if (atomic_load(&s->pid) <= 0) continue;
        uint64_t hb = atomic_load(&s->heartbeat_ms);
        if (!hb) hb = atomic_load(&s->started_ms); /* not one loop turn yet */
        uint64_t age = hb && now_ms > hb ? now_ms - hb : 0;
        const char *status = st == SLOT_READY && age < 2000 ? "healthy"
                             : st == SLOT_READY             ? "down"
                                                            : "degraded";
        char name[32];
        snprintf(name, sizeof name, "worker-%d", i);
        json_t *extra = json_pack("{s:i, s:i, s:s, s:I}", "pid", (int)atomic_load(&s->pid),
                                  "generation", (int)atomic_load(&s->generation), "state",
                                  st == SLOT_READY      ? "ready"
                                  : st == SLOT_DRAINING ? "draining"
                                                        : "starting",
                                  "connections", (json_int_t)stats_get(&s->stats.ws_connections));
        publish(shm, monitor_service_status(ts, name, status, (double)age, ts, extra));
    }
}

/* PostgreSQL as the workers see it, and the LLM backend by its recent
 * failures. */
static void publish_backend_status(shm_region_t *shm, const ragws_config_t *cfg, const char *ts,
                                   const worker_stats_t *now, double secs)
{
    int ready = 0, db_up = 0;
    SHM_FOR_EACH_SLOT (shm, i, SHM_STATE(SLOT_READY)) {
        ready++;
        if (atomic_load(&shm->slots[i].db_ok)) db_up++;
    }
    const char *pg = !ready ? "down" : db_up == ready ? "healthy" : db_up ? "degraded" : "down";
    publish(shm, monitor_service_status(
                     ts, "postgresql", pg, 0, ts,
                     json_pack("{s:i, s:i}", "workers_connected", db_up, "workers", ready)));
    static const char *const backends[] = {"builtin", "openai", "ollama"};
    double llm_err = secs > 0 ? DELTA(now, llm_errors) : 0;
    double llm_ok = secs > 0 ? DELTA(now, llm_streams) : 0;
    const char *llm = llm_err == 0 ? "healthy" : llm_ok > 0 ? "degraded" : "down";
    char llm_name[32];
    snprintf(llm_name, sizeof llm_name, "llm-%s", backends[cfg->llm_backend]);
    publish(shm, monitor_service_status(
                     ts, llm_name, llm, 0, ts,
                     json_pack("{s:f, s:f}", "errors", llm_err, "completed", llm_ok)));
}

/* error_alert when a configured threshold is crossed. */
static void publish_alerts(shm_region_t *shm, const ragws_config_t *cfg, const char *ts,
                           const monitor_metrics_t *m, double errors_delta)
{
    char msg[160];
    if (prev.have && m->cpu_usage >= cfg->cpu_alert_percent) {
        snprintf(msg, sizeof msg, "CPU usage %.1f%% over the %.1f%% threshold", m->cpu_usage,
                 cfg->cpu_alert_percent);
        publish(shm, monitor_error_alert(ts, "warning", "system", msg,
                                         json_pack("{s:f, s:f}", "cpu_usage", m->cpu_usage,
                                                   "threshold", cfg->cpu_alert_percent)));
    }
    if (m->memory_usage >= cfg->memory_alert_percent) {
        snprintf(msg, sizeof msg, "memory usage %.1f%% over the %.1f%% threshold", m->memory_usage,
                 cfg->memory_alert_percent);
        publish(shm, monitor_error_alert(ts, "warning", "system", msg,
                                         json_pack("{s:f, s:f}", "memory_usage", m->memory_usage,
                                                   "threshold", cfg->memory_alert_percent)));
    }
    if (errors_delta >= cfg->error_alert_count) {
        snprintf(msg, sizeof msg, "%.0f errors in the last interval (threshold %u)", errors_delta,
                 cfg->error_alert_count);
        publish(shm, monitor_error_alert(ts, "error", "ragws", msg,
                                         json_pack("{s:f, s:i}", "errors", errors_delta,
                                                   "threshold", (int)cfg->error_alert_count)));
    }
}

void monitor_tick(shm_region_t *shm, const ragws_config_t *cfg)
{
    char ts[40];
    monitor_timestamp(ts, sizeof ts);
    uint64_t at = loop_clock_ns();
    worker_stats_t now;
    shm_stats_total(shm, &now);
    uint64_t busy = 0, total = 0;
    int cpu_ok = read_cpu(&busy, &total) == 0;
    double secs = prev.have ? (double)(at - prev.at_ns) / 1e9 : 0;

    monitor_metrics_t m;
    sample_metrics(shm, &now, secs, cpu_ok, busy, total, &m);
    publish(shm, monitor_system_metrics(ts, &m));
    publish_worker_status(shm, ts, at / 1000000);
    publish_backend_status(shm, cfg, ts, &now, secs);
    publish_alerts(shm, cfg, ts, &m, secs > 0 ? DELTA(&now, errors) : 0);
    notify_status("%llu connections, %llu workers", (unsigned long long)m.active_connections,
                  (unsigned long long)m.workers);

    prev.have = 1;
    prev.at_ns = at;
    if (cpu_ok) {
        prev.cpu_busy = busy;
        prev.cpu_total = total;
    }
    memcpy(&prev.stats, &now, sizeof now);
}
