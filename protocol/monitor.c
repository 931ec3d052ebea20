#include "protocol/monitor.h"

#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#include "protocol/json_msg.h"

void monitor_timestamp(char *buf, size_t len)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

/* NULL (and nothing to broadcast) when data could not be built or encoded. */
static char *wrap(const char *type, const char *ts, json_t *data)
{
    if (!data) return NULL;
    return json_msg_dump_free(
        json_pack("{s:s, s:s, s:o}", "type", type, "timestamp", ts, "data", data));
}

char *monitor_system_metrics(const char *ts, const monitor_metrics_t *m)
{
    json_t *d = json_object();
    json_object_set_new(d, "cpu_usage", json_real(m->cpu_usage));
    json_object_set_new(d, "memory_usage", json_real(m->memory_usage));
    json_object_set_new(d, "active_connections", json_integer((json_int_t)m->active_connections));
    json_object_set_new(d, "queries_per_minute", json_real(m->queries_per_minute));
    json_object_set_new(d, "average_response_time", json_real(m->average_response_time));
    json_object_set_new(d, "workers", json_integer((json_int_t)m->workers));
    json_object_set_new(d, "http_connections", json_integer((json_int_t)m->http_connections));
    json_object_set_new(d, "messages_in_per_second", json_real(m->messages_in_per_second));
    json_object_set_new(d, "messages_out_per_second", json_real(m->messages_out_per_second));
    json_object_set_new(d, "ring_lag", json_integer((json_int_t)m->ring_lag));
    json_object_set_new(d, "ring_overruns", json_integer((json_int_t)m->ring_overruns));
    json_object_set_new(d, "slow_consumers_dropped", json_integer((json_int_t)m->slow_consumers));
    json_object_set_new(d, "keepalive_timeouts", json_integer((json_int_t)m->keepalive_timeouts));
    json_object_set_new(d, "errors", json_integer((json_int_t)m->errors));
    json_object_set_new(d, "rss_bytes", json_integer((json_int_t)m->rss_bytes));
    json_object_set_new(d, "broadcast_latency_p99_ms", json_real(m->broadcast_latency_p99_ms));
    return wrap("system_metrics", ts, d);
}

char *monitor_service_status(const char *ts, const char *service, const char *status,
                             double response_time_ms, const char *last_check, json_t *extra)
{
    json_t *d = json_pack("{s:o, s:s, s:f, s:s}", "service", json_msg_text(service), "status",
                          status, "response_time", response_time_ms, "last_check", last_check);
    if (d && extra) json_object_update(d, extra);
    json_decref(extra);
    return wrap("service_status", ts, d);
}

char *monitor_error_alert(const char *ts, const char *severity, const char *service,
                          const char *message, json_t *details)
{
    json_t *d =
        json_pack("{s:s, s:o, s:o, s:o}", "severity", severity, "service", json_msg_text(service),
                  "message", json_msg_text(message), "details", details ? details : json_object());
    return wrap("error_alert", ts, d);
}
