/* protocol/monitor.c: /ws/monitor messages {"type","timestamp","data"}. */
#include "tests/unit/unit.h"
#include "tests/unit/protocol/json_check.h"
#include "protocol/monitor.h"

#include <ctype.h>

static void test_timestamp(void)
{
    char ts[40];
    monitor_timestamp(ts, sizeof ts);
    /* 2024-08-15T10:30:00.123Z */
    CHECK_EQ_INT(strlen(ts), 24);
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; i < 24 && ts[i]; i++)
        CHECK(shape[i] == 'd' ? isdigit((unsigned char)ts[i]) != 0 : ts[i] == shape[i]);
}

static void test_system_metrics(void)
{
    monitor_metrics_t m = {
        .cpu_usage = 12.5,
        .memory_usage = 40.25,
        .active_connections = 7,
        .queries_per_minute = 3,
        .average_response_time = 0.5,
        .workers = 2,
        .http_connections = 1,
        .messages_in_per_second = 1.5,
        .messages_out_per_second = 2.5,
        .ring_lag = 4,
        .ring_overruns = 5,
        .slow_consumers = 6,
        .keepalive_timeouts = 8,
        .errors = 9,
        .rss_bytes = 1048576,
        .broadcast_latency_p99_ms = 0.1,
    };
    char *s = monitor_system_metrics("2024-08-15T10:30:00.123Z", &m);
    CHECK(jwire_ok(s));
    json_t *v = jparse(s);
    CHECK_EQ_STR(jstr(v, "type"), "system_metrics");
    CHECK_EQ_STR(jstr(v, "timestamp"), "2024-08-15T10:30:00.123Z");
    CHECK_EQ_INT(jsize(v, NULL), 3);
    CHECK_EQ_INT(jsize(v, "data"), 16);
    CHECK(jnum(v, "data.cpu_usage") == 12.5 && jnum(v, "data.memory_usage") == 40.25);
    CHECK_EQ_INT(jint(v, "data.active_connections"), 7);
    CHECK(json_is_real(jget(v, "data.queries_per_minute")));
    CHECK(jnum(v, "data.average_response_time") == 0.5);
    CHECK_EQ_INT(jint(v, "data.workers"), 2);
    CHECK_EQ_INT(jint(v, "data.http_connections"), 1);
    CHECK(jnum(v, "data.messages_in_per_second") == 1.5);
    CHECK(jnum(v, "data.messages_out_per_second") == 2.5);
    CHECK_EQ_INT(jint(v, "data.ring_lag"), 4);
    CHECK_EQ_INT(jint(v, "data.ring_overruns"), 5);
    CHECK_EQ_INT(jint(v, "data.slow_consumers_dropped"), 6);
    CHECK_EQ_INT(jint(v, "data.keepalive_timeouts"), 8);
    CHECK_EQ_INT(jint(v, "data.errors"), 9);
    CHECK_EQ_INT(jint(v, "data.rss_bytes"), 1048576);
    CHECK(has(s,
              "\"broadcast_latency_p99_ms\":0.1}")); /* 10 digits: 0.1, not 0.1000000000000000055 */
    json_decref(v);
    free(s);
}

static void test_service_status(void)
{
    char *s = monitor_service_status("TS", "worker-0", "healthy", 3, "TS",
                                     json_pack("{s:i, s:s}", "pid", 42, "state", "ready"));
    CHECK_EQ_STR(s, "{\"type\":\"service_status\",\"timestamp\":\"TS\",\"data\":{\"service\":"
                    "\"worker-0\",\"status\":\"healthy\",\"response_time\":3.0,\"last_check\":"
                    "\"TS\",\"pid\":42,\"state\":\"ready\"}}");
    free(s);
    s = monitor_service_status("TS", T_TRICKY, "down", 0, "TS", NULL);
    CHECK(has(s, "\"service\":" T_TRICKY_JSON ","));
    CHECK(jwire_ok(s));
    json_t *v = jparse(s);
    CHECK_EQ_INT(jsize(v, "data"), 4);
    json_decref(v);
    free(s);
    s = monitor_service_status("TS", T_BAD, "down", 0, "TS", NULL);
    CHECK(has(s, "\"service\":" T_BAD_JSON));
    free(s);
}

static void test_error_alert(void)
{
    char *s =
        monitor_error_alert("TS", "warning", "system", "CPU usage 95.0% over the 90.0%", NULL);
    CHECK_EQ_STR(s, "{\"type\":\"error_alert\",\"timestamp\":\"TS\",\"data\":{\"severity\":"
                    "\"warning\",\"service\":\"system\",\"message\":\"CPU usage 95.0% over the "
                    "90.0%\",\"details\":{}}}");
    free(s);
    s = monitor_error_alert("TS", "critical", "worker", T_FR " " T_EMOJI " " T_TRICKY,
                            json_pack("{s:f}", "threshold", 90.0));
    CHECK(jwire_ok(s));
    json_t *v = jparse(s);
    CHECK_EQ_STR(jstr(v, "data.message"), T_FR " " T_EMOJI " " T_TRICKY);
    CHECK(jnum(v, "data.details.threshold") == 90.0);
    json_decref(v);
    free(s);
    s = monitor_error_alert("TS", "error", "ragws", T_BAD, NULL);
    CHECK(has(s, "\"message\":" T_BAD_JSON));
    free(s);
}

int main(void)
{
    RUN(test_timestamp);
    RUN(test_system_metrics);
    RUN(test_service_status);
    RUN(test_error_alert);
    return UNIT_SUMMARY();
}
