#include "shm/stats.h"

const uint64_t stats_latency_bounds_us[STATS_LAT_BUCKETS - 1] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000};

void stats_observe_latency(worker_stats_t *s, uint64_t us, uint64_t count)
{
    int b = 0;
    while (b < STATS_LAT_BUCKETS - 1 && us > stats_latency_bounds_us[b]) b++;
    stats_add(&s->latency_buckets[b], count);
    stats_add(&s->latency_sum_us, us * count);
    stats_add(&s->latency_count, count);
}

const uint64_t stats_query_bounds_us[STATS_QUERY_BUCKETS - 1] = {
    50000,   100000,   250000,   500000,   1000000,  2500000,
    5000000, 10000000, 25000000, 60000000, 120000000};

void stats_observe_query(worker_stats_t *s, uint64_t us)
{
    int b = 0;
    while (b < STATS_QUERY_BUCKETS - 1 && us > stats_query_bounds_us[b]) b++;
    stats_add(&s->query_buckets[b], 1);
    stats_add(&s->queries, 1);
    stats_add(&s->query_time_us, us);
}

void stats_observe_token_latency(worker_stats_t *s, uint64_t us)
{
    int b = 0;
    while (b < STATS_LAT_BUCKETS - 1 && us > stats_latency_bounds_us[b]) b++;
    stats_add(&s->token_latency_buckets[b], 1);
    stats_add(&s->token_latency_sum_us, us);
    stats_add(&s->token_latency_count, 1);
}

#define IS_gauge   1
#define IS_counter 0

void stats_accumulate(worker_stats_t *out, const worker_stats_t *in, int counters_only)
{
#define STATS_ACC(name, type, help)                                                                \
    if (!(counters_only && IS_##type)) stats_add(&out->name, stats_get(&in->name));
    STATS_FIELDS(STATS_ACC)
#undef STATS_ACC
    for (int i = 0; i < STATS_LAT_BUCKETS; i++)
        stats_add(&out->latency_buckets[i], stats_get(&in->latency_buckets[i]));
    stats_add(&out->latency_sum_us, stats_get(&in->latency_sum_us));
    stats_add(&out->latency_count, stats_get(&in->latency_count));
    for (int i = 0; i < STATS_LAT_BUCKETS; i++)
        stats_add(&out->token_latency_buckets[i], stats_get(&in->token_latency_buckets[i]));
    stats_add(&out->token_latency_sum_us, stats_get(&in->token_latency_sum_us));
    stats_add(&out->token_latency_count, stats_get(&in->token_latency_count));
    for (int i = 0; i < STATS_QUERY_BUCKETS; i++)
        stats_add(&out->query_buckets[i], stats_get(&in->query_buckets[i]));
}
