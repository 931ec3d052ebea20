/* Admin publishing: the body of POST /api/broadcast and every message on
 * /ws/publish: {"channel":"name","message":{...}}. */
#ifndef RAGWS_PROTOCOL_PUBLISH_H
#define RAGWS_PROTOCOL_PUBLISH_H

#include <stddef.h>

typedef struct publish_req {
    char channel[65];
    size_t channel_len;
    char *payload; /* compact JSON of "message" (caller frees) */
    size_t payload_len;
} publish_req_t;

/* Returns 0, or -1 with *code (INVALID_JSON / VALIDATION_ERROR, or
 * INTERNAL_ERROR when out of memory) and err. */
int publish_parse(const char *data, size_t len, publish_req_t *out, const char **code, char *err,
                  size_t errlen);

#endif
