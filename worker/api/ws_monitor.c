/* /ws/monitor (SPEC S4.8): dashboards subscribe to "monitor", where the
 * master publishes system_metrics, service_status and error_alert; the
 * figures are computed once, so every dashboard sees the same numbers.
 * Like the ingestion dashboards it only streams: client messages are
 * answered by worker/api/ws_watch.h (ping, or an error). */
#include "protocol/monitor.h"
#include "worker/api/ws_watch.h"
#include "worker/net/route.h"

const endpoint_t ep_monitor = {
    .path = "/ws/monitor",
    .channel = MONITOR_CHANNEL,
    .on_text = watch_on_text,
    .send_error = watch_send_error,
};
