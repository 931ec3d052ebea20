/* The seed 004 envelope {"type","request_id","data"} used by /ws/query,
 * /ws/monitor, /ws/upload, /ws/collections and /ws/publish. */
#ifndef RAGWS_PROTOCOL_ENVELOPE_H
#define RAGWS_PROTOCOL_ENVELOPE_H

#include <jansson.h>

/* {"type":"error","request_id":rid?,"data":{"code","message",
 *  "details":{"stage","error"}?,"recoverable"}} (caller frees). */
char *envelope_error(const char *request_id, const char *code,
                     const char *message, const char *stage, int recoverable);

/* {"type":type,"request_id":rid?,"data":data} — steals data. */
char *envelope_encode(const char *type, const char *request_id, json_t *data);

#endif
