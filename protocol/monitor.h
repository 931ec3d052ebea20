/* /ws/monitor messages (seed 004, SPEC S4.8), encoded once by the master
 * and broadcast on the "monitor" channel. */
#ifndef RAGWS_PROTOCOL_MONITOR_H
#define RAGWS_PROTOCOL_MONITOR_H

#include <jansson.h>
#include <stdint.h>

#define MONITOR_CHANNEL "monitor"

typedef struct monitor_metrics {
    double cpu_usage;            /* percent of the machine, over the last interval */
    double memory_usage;         /* percent of MemTotal in use */
    uint64_t active_connections; /* open WebSockets, all workers */
    double queries_per_minute;
    double average_response_time; /* seconds */
    /* the server's own figures */
    uint64_t workers;
    uint64_t http_connections;
    double messages_in_per_second;
    double messages_out_per_second;
    uint64_t ring_lag;
    uint64_t ring_overruns;
    uint64_t slow_consumers;
    uint64_t keepalive_timeouts;
    uint64_t errors;
    uint64_t rss_bytes; /* master + workers */
    double broadcast_latency_p99_ms;
} monitor_metrics_t;

/* ISO 8601 UTC with milliseconds, e.g. 2024-08-15T10:30:00.123Z */
void monitor_timestamp(char *buf, size_t len);

char *monitor_system_metrics(const char *ts, const monitor_metrics_t *m);
char *monitor_service_status(const char *ts, const char *service, const char *status,
                             double response_time_ms, const char *last_check, json_t *extra);
/* Steals details. */
char *monitor_error_alert(const char *ts, const char *severity, const char *service,
                          const char *message, json_t *details);

#endif
