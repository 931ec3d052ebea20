/* /api/v1/ws (seed 000): broadcasts on channel "global"; client messages
 * {"type":...,"content":{...}}; errors
 * {"type":"error","content":{"message":...,"code":...}}. */
#ifndef RAGWS_PROTOCOL_APIV1_H
#define RAGWS_PROTOCOL_APIV1_H

#include <jansson.h>

#define APIV1_CHANNEL "global"

/* Encoded error message (caller frees); a fixed INTERNAL_ERROR error when
 * it cannot be encoded, NULL only when even that copy fails. */
char *apiv1_error(const char *code, const char *message);

/* {"type":"response","content":{"answer":..,"sources":[..]}} (sources borrowed);
 * NULL when it cannot be encoded. */
char *apiv1_response(const char *answer, json_t *sources);

#endif
