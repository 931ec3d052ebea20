/* JSON the gateway itself sends, not one endpoint's protocol: the HTTP
 * error body every REST answer and refused handshake uses, the REST status
 * bodies (/ready, the publish calls), the resync notice the transport
 * sends when the broadcast ring lapped a worker, and the auth_error
 * message of a WebSocket whose token was refused (seed 004).
 *
 * Every function returns a malloc'd NUL-terminated string the caller
 * frees, or NULL when out of memory (gateway_error_body and
 * gateway_auth_error then fall back to a fixed valid text, so they return
 * NULL only if even that copy fails). Texts from outside go through
 * json_msg_text (always valid UTF-8, escaped). */
#ifndef RAGWS_PROTOCOL_GATEWAY_H
#define RAGWS_PROTOCOL_GATEWAY_H

#include <stdint.h>

/* {"error":{"code":..,"message":..}} */
char *gateway_error_body(const char *code, const char *message);

/* /ready: {"status":"ready"|"not_ready","workers_ready":n,
 * "workers_expected":n,"database":"up"|"down","draining":bool} */
char *gateway_ready_body(int ok, int ready, int expected, int db_down, int draining);

/* {"status":"published","channel":..} (POST /api/broadcast) */
char *gateway_published_channel(const char *channel);

/* {"status":"published","room":"project_<id>","event":..} (project calls) */
char *gateway_published_room(const char *project, const char *event);

/* {"type":"resync","channel":..,"missed":n} */
char *gateway_resync(const char *channel, uint64_t missed);

/* {"type":"auth_error","data":{"code":"INVALID_TOKEN","message":
 * "Authentication failed: <why>","action":"reconnect_with_valid_token"}} */
char *gateway_auth_error(const char *why);

#endif
