/* /ws/monitor (SPEC S4.8): dashboards subscribe to "monitor", where the
 * master publishes system_metrics, service_status and error_alert; the
 * figures are computed once, so every dashboard sees the same numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/envelope.h"
#include "protocol/json_msg.h"
#include "protocol/monitor.h"
#include "worker/net/route.h"
#include "worker/net/net.h"
#include "worker/net/ws.h"

static void monitor_send_error(conn_t *c, const char *code, const char *message)
{
    ws_send_owned(c, envelope_error(NULL, code, message, NULL, 1));
    stats_add(&net->stats->errors, 1);
}

static void monitor_on_text(conn_t *c, const char *msg, size_t len)
{
    const char *code;
    char err[256];
    json_t *v = json_msg_parse(msg, len, &code, err, sizeof err);
    if (!v) {
        monitor_send_error(c, code, err);
        return;
    }
    const char *type = json_msg_type(v, err, sizeof err);
    if (!type) {
        monitor_send_error(c, ERR_VALIDATION, err);
    } else if (strcmp(type, "ping") == 0) {
        static const char pong[] = "{\"type\":\"pong\"}";
        ws_send_text(c, pong, sizeof pong - 1);
    } else {
        char m[256];
        utf8_snprintf(m, sizeof m,
                      "unknown message type \"%.*s\" (this endpoint only streams metrics)",
                      QUOTE(type));
        monitor_send_error(c, ERR_UNKNOWN_TYPE, m);
    }
    json_decref(v);
}

const endpoint_t ep_monitor = {
    .path = "/ws/monitor",
    .channel = MONITOR_CHANNEL,
    .on_text = monitor_on_text,
    .send_error = monitor_send_error,
};
