/* What the watching endpoints share (/ws/upload, /ws/collections,
 * /ws/dashboard, /ws/metrics in ws_watch.c; /ws/active-tasks and
 * /ws/task/{id} in ws_tasks.c; /ws/monitor in ws_monitor.c): they only stream what the ring carries,
 * so a client message is a ping (answered pong) or an error; all answer
 * errors in the seed 004 envelope {"type":"error","request_id":null,
 * "data":{"code","message","recoverable"}}. */
#ifndef RAGWS_WORKER_API_WS_WATCH_H
#define RAGWS_WORKER_API_WS_WATCH_H

#include <stddef.h>

#include "worker/net/conn.h"

void watch_send_error(conn_t *c, const char *code, const char *message);

/* {"type":"ping"} -> {"type":"pong"}; anything else: INVALID_JSON,
 * VALIDATION_ERROR or UNKNOWN_TYPE, the connection stays open. */
void watch_on_text(conn_t *c, const char *msg, size_t len);

#endif
