/* /api/v1/ws (seed 000): broadcasts on channel "global"; client messages
 * {"type":...,"content":{...}}; errors
 * {"type":"error","content":{"message":...,"code":...}}. */
#ifndef RAGWS_PROTOCOL_APIV1_H
#define RAGWS_PROTOCOL_APIV1_H

#include <jansson.h>

#define APIV1_CHANNEL "global"

/* Encoded error message (caller frees). */
char *apiv1_error(const char *code, const char *message);

/* {"type":"response","content":{"answer":..,"sources":[..]}} (sources borrowed). */
char *apiv1_response(const char *answer, json_t *sources);

#endif
