#include "protocol/gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/json_msg.h"

static const char ERROR_FALLBACK[] =
    "{\"error\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"internal error\"}}";

char *gateway_error_body(const char *code, const char *message)
{
    char *s =
        json_msg_dump_free(json_pack("{s:{s:s,s:o}}", "error", "code", code ? code : ERR_INTERNAL,
                                     "message", json_msg_text(message)));
    return s ? s : strdup(ERROR_FALLBACK);
}

char *gateway_ready_body(int ok, int ready, int expected, int db_down, int draining)
{
    return json_msg_dump_free(json_pack(
        "{s:s, s:i, s:i, s:s, s:b}", "status", ok ? "ready" : "not_ready", "workers_ready", ready,
        "workers_expected", expected, "database", db_down ? "down" : "up", "draining", draining));
}

char *gateway_published_channel(const char *channel)
{
    return json_msg_dump_free(
        json_pack("{s:s, s:o}", "status", "published", "channel", json_msg_text(channel)));
}

char *gateway_published_room(const char *project, const char *event)
{
    char room[128];
    snprintf(room, sizeof room, "project_%s", project ? project : "");
    return json_msg_dump_free(json_pack("{s:s, s:o, s:o}", "status", "published", "room",
                                        json_msg_text(room), "event", json_msg_text(event)));
}

char *gateway_resync(const char *channel, uint64_t missed)
{
    return json_msg_dump_free(json_pack("{s:s, s:o, s:I}", "type", "resync", "channel",
                                        json_msg_text(channel), "missed", (json_int_t)missed));
}

char *gateway_auth_error(const char *why)
{
    char msg[512];
    snprintf(msg, sizeof msg, "Authentication failed: %s", why && *why ? why : "invalid token");
    char *s = json_msg_dump_free(json_pack("{s:s, s:{s:s, s:o, s:s}}", "type", "auth_error", "data",
                                           "code", "INVALID_TOKEN", "message", json_msg_text(msg),
                                           "action", "reconnect_with_valid_token"));
    if (s) return s;
    return strdup("{\"type\":\"auth_error\",\"data\":{\"code\":\"INVALID_TOKEN\",\"message\":"
                  "\"Authentication failed\",\"action\":\"reconnect_with_valid_token\"}}");
}
