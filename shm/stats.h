/* Per-worker statistics kept in shared memory, so the master, /metrics and
 * /ws/monitor can sum them without asking the workers. Each slot has a
 * single writer (its worker), so updates are plain relaxed load+store: no
 * locked instructions on the hot path. */
#ifndef RAGWS_SHM_STATS_H
#define RAGWS_SHM_STATS_H

#include <stdatomic.h>
#include <stdint.h>

/* Broadcast latency buckets (publish -> bytes handed to the kernel), µs. */
#define STATS_LAT_BUCKETS 15
extern const uint64_t stats_latency_bounds_us[STATS_LAT_BUCKETS - 1];
/* Question answering time buckets (whole pipeline), µs. */
#define STATS_QUERY_BUCKETS 12
extern const uint64_t stats_query_bounds_us[STATS_QUERY_BUCKETS - 1];

/* X-macro: name, prometheus type, help. Gauges are not folded into the
 * retired totals when a worker dies. */
#define STATS_FIELDS(X)                                                                            \
    X(ws_connections, gauge, "Open WebSocket connections")                                         \
    X(http_connections, gauge, "Open connections not (yet) upgraded")                              \
    X(ring_lag, gauge, "Ring records published but not yet read by the worker")                    \
    X(accepted, counter, "TCP connections accepted")                                               \
    X(handshakes, counter, "Completed WebSocket handshakes")                                       \
    X(handshake_failures, counter, "Rejected WebSocket handshakes")                                \
    X(http_requests, counter, "HTTP requests served")                                              \
    X(messages_in, counter, "WebSocket messages received")                                         \
    X(messages_out, counter, "WebSocket messages sent (broadcast deliveries included)")            \
    X(bytes_in, counter, "Bytes received")                                                         \
    X(bytes_out, counter, "Bytes sent")                                                            \
    X(broadcasts, counter, "Ring records delivered to local subscribers")                          \
    X(errors, counter, "Error replies and error closes")                                           \
    X(slow_consumers, counter, "Connections closed as slow consumers")                             \
    X(ring_overruns, counter, "Times this worker was lapped on the ring")                          \
    X(keepalive_timeouts, counter, "Connections closed for a missing pong")                        \
    X(handshake_timeouts, counter, "Connections closed before finishing the handshake")            \
    X(rejected_full, counter, "Handshakes refused with 503 (too many connections)")                \
    X(rate_limited, counter, "Messages dropped by the rate limit")                                 \
    X(queries, counter, "Questions answered, all endpoints")                                       \
    X(query_time_us, counter, "Total time spent answering questions, microseconds")                \
    X(llm_streams, counter, "LLM generations finished normally")                                   \
    X(llm_errors, counter, "LLM generations that failed (LLM_UNAVAILABLE)")                        \
    X(storage_errors, counter, "Requests answered STORAGE_UNAVAILABLE")                            \
    X(handoffs, counter, "Sockets handed to the worker owning their Socket.IO session")            \
    X(sio_sessions, gauge, "Open Socket.IO (Engine.IO) sessions")                                 \
    X(ingest_running, gauge, "Ingestion tasks this worker is running")                            \
    X(ingest_completed, counter, "Ingestion tasks completed")                                      \
    X(ingest_failed, counter, "Ingestion tasks failed")                                            \
    X(ingest_cancelled, counter, "Ingestion tasks cancelled")                                      \
    X(ingest_pages, counter, "Pages extracted by ingestion tasks")                                 \
    X(ingest_task_ms, counter, "Total run time of finished ingestion tasks, milliseconds")        \
    X(upload_bytes, counter, "Bytes of uploaded files written to disk")

typedef struct worker_stats {
#define STATS_DECLARE(name, type, help) _Atomic uint64_t name;
    STATS_FIELDS(STATS_DECLARE)
#undef STATS_DECLARE
    _Atomic uint64_t latency_buckets[STATS_LAT_BUCKETS];
    _Atomic uint64_t latency_sum_us;
    _Atomic uint64_t latency_count;
    /* LLM token arrival -> its frame handed to the kernel (gateway-added). */
    _Atomic uint64_t token_latency_buckets[STATS_LAT_BUCKETS];
    _Atomic uint64_t token_latency_sum_us;
    _Atomic uint64_t token_latency_count;
    _Atomic uint64_t query_buckets[STATS_QUERY_BUCKETS]; /* sum: query_time_us */
} worker_stats_t;

static inline void stats_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void stats_sub(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
                          memory_order_relaxed);
}

static inline void stats_set(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t stats_get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

void stats_observe_latency(worker_stats_t *s, uint64_t us, uint64_t count);
void stats_observe_token_latency(worker_stats_t *s, uint64_t us);
/* One question answered in us: queries, query_time_us and the histogram. */
void stats_observe_query(worker_stats_t *s, uint64_t us);

/* out += in (all fields; gauges too unless counters_only). */
void stats_accumulate(worker_stats_t *out, const worker_stats_t *in, int counters_only);

#endif
