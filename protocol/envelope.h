/* The seed 004 envelope {"type","request_id","data"} used by /ws/query,
 * /ws/monitor, /ws/upload, /ws/collections and /ws/publish. */
#ifndef RAGWS_PROTOCOL_ENVELOPE_H
#define RAGWS_PROTOCOL_ENVELOPE_H

#include <jansson.h>

/* {"type":"error","request_id":rid|null,"data":{"code","message",
 *  "details":{"stage","error"}?,"recoverable"}} (caller frees). When it
 * cannot be encoded, a fixed INTERNAL_ERROR error instead; NULL only when
 * even that copy fails. */
char *envelope_error(const char *request_id, const char *code, const char *message,
                     const char *stage, int recoverable);

/* {"type":type,"request_id":rid|null,"data":data} -- steals data; NULL
 * when data is NULL or the message cannot be encoded. request_id is always
 * present (null when unknown): the seed's clients read it on every frame. */
char *envelope_encode(const char *type, const char *request_id, json_t *data);

#endif
