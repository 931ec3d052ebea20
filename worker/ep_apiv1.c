/* /api/v1/ws (SPEC S4.1): every client is subscribed to "global", where
 * follow_up_questions and indexing_progress are broadcast. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/apiv1.h"
#include "protocol/json_msg.h"
#include "worker/endpoint.h"
#include "worker/worker.h"
#include "worker/ws_session.h"

static void apiv1_send_error(conn_t *c, const char *code, const char *message)
{
    char *s = apiv1_error(code, message);
    ws_send_text(c, s, strlen(s));
    free(s);
    stats_add(&wk->stats->errors, 1);
}

static void apiv1_on_text(conn_t *c, const char *msg, size_t len)
{
    const char *code;
    char err[256];
    json_t *v = json_msg_parse(msg, len, &code, err, sizeof err);
    if (!v) {
        apiv1_send_error(c, code, err);
        return;
    }
    const char *type = json_msg_type(v, err, sizeof err);
    if (!type) {
        apiv1_send_error(c, ERR_VALIDATION, err);
    } else if (strcmp(type, "ping") == 0) {
        static const char pong[] = "{\"type\":\"pong\"}";
        ws_send_text(c, pong, sizeof pong - 1);
    } else {
        char m[300];
        snprintf(m, sizeof m, "unknown message type \"%.200s\"", type);
        apiv1_send_error(c, ERR_UNKNOWN_TYPE, m);
    }
    json_decref(v);
}

const endpoint_t ep_apiv1 = {
    .path = "/api/v1/ws",
    .channel = APIV1_CHANNEL,
    .on_text = apiv1_on_text,
    .send_error = apiv1_send_error,
};
