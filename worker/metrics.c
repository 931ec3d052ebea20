/* GET /metrics: Prometheus text format, summed over all workers from the
 * shared statistics slots (no worker is asked anything). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/rest.h"
#include "worker/worker.h"

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)(n > 0 ? n : 0);
        char *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
}

/* A Prometheus histogram from microsecond buckets. */
static void histogram(sbuf_t *b, const char *name, const char *help,
                      const _Atomic uint64_t *buckets, uint64_t sum_us, uint64_t count)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < STATS_LAT_BUCKETS; i++) {
        cum += stats_get(&buckets[i]);
        if (i < STATS_LAT_BUCKETS - 1)
            sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
                      (double)stats_latency_bounds_us[i] / 1e6, (unsigned long long)cum);
        else
            sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    sb_printf(b, "%s_sum %g\n%s_count %llu\n", name, (double)sum_us / 1e6, name,
              (unsigned long long)count);
}

char *metrics_render(size_t *len)
{
    worker_stats_t t;
    shm_stats_total(wk->shm, &t);
    sbuf_t b = {malloc(8192), 0, 8192};
    if (!b.p) abort();
    b.p[0] = 0;

#define EMIT_gauge(name, help)                                                   \
    sb_printf(&b, "# HELP ragws_%s %s\n# TYPE ragws_%s gauge\nragws_%s %llu\n", \
              #name, help, #name, #name, (unsigned long long)stats_get(&t.name));
#define EMIT_counter(name, help)                                                 \
    sb_printf(&b,                                                                \
              "# HELP ragws_%s_total %s\n# TYPE ragws_%s_total counter\n"       \
              "ragws_%s_total %llu\n",                                           \
              #name, help, #name, #name, (unsigned long long)stats_get(&t.name));
#define EMIT(name, type, help) EMIT_##type(name, help)
    STATS_FIELDS(EMIT)
#undef EMIT

    histogram(&b, "ragws_broadcast_latency_seconds",
              "Time from publish to bytes handed to the kernel", t.latency_buckets,
              stats_get(&t.latency_sum_us), stats_get(&t.latency_count));
    histogram(&b, "ragws_token_latency_seconds",
              "Time from an LLM token's arrival to its frame handed to the kernel",
              t.token_latency_buckets, stats_get(&t.token_latency_sum_us),
              stats_get(&t.token_latency_count));

    int workers = 0;
    sb_printf(&b, "# HELP ragws_worker_connections Open WebSocket connections per worker\n"
                  "# TYPE ragws_worker_connections gauge\n");
    for (int i = 0; i < SHM_MAX_SLOTS; i++) {
        shm_slot_t *s = &wk->shm->slots[i];
        uint32_t st = atomic_load(&s->state);
        int pid = (int)atomic_load(&s->pid);
        /* A slot being forked has no pid yet: not a worker to show. */
        if (st == SLOT_FREE || pid <= 0) continue;
        if (st == SLOT_READY) workers++;
        sb_printf(&b, "ragws_worker_connections{slot=\"%d\",pid=\"%d\",generation=\"%u\"} %llu\n",
                  i, pid, (unsigned)atomic_load(&s->generation),
                  (unsigned long long)stats_get(&s->stats.ws_connections));
    }
    ring_t *r = shm_ring(wk->shm);
    sb_printf(&b, "# HELP ragws_workers Workers listening\n# TYPE ragws_workers gauge\n"
                  "ragws_workers %d\n", workers);
    sb_printf(&b, "# HELP ragws_ring_last_seq Last sequence number committed to the ring\n"
                  "# TYPE ragws_ring_last_seq gauge\nragws_ring_last_seq %llu\n",
              (unsigned long long)ring_last_seq(r));
    sb_printf(&b, "# HELP ragws_ring_publishes_total Records published into the ring\n"
                  "# TYPE ragws_ring_publishes_total counter\nragws_ring_publishes_total %llu\n",
              (unsigned long long)atomic_load(&wk->shm->publishes));
    sb_printf(&b, "# HELP ragws_ring_recovered_locks_total Ring locks recovered from a dead writer\n"
                  "# TYPE ragws_ring_recovered_locks_total counter\n"
                  "ragws_ring_recovered_locks_total %llu\n",
              (unsigned long long)ring_recovered_locks(r));
    *len = b.len;
    return b.p;
}
