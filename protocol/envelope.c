#include "protocol/envelope.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/json_msg.h"

char *envelope_encode(const char *type, const char *request_id, json_t *data)
{
    if (!data) return NULL; /* the caller's pack failed */
    json_t *o = json_pack("{s:s, s:o, s:o}", "type", type, "request_id",
                          request_id ? json_msg_text(request_id) : json_null(), "data", data);
    return json_msg_dump_free(o);
}

/* Sent when the error itself cannot be encoded (out of memory). */
static const char ENVELOPE_FALLBACK[] =
    "{\"type\":\"error\",\"request_id\":null,\"data\":{\"code\":\"INTERNAL_ERROR\","
    "\"message\":\"internal error\",\"recoverable\":true}}";

char *envelope_error(const char *request_id, const char *code, const char *message,
                     const char *stage, int recoverable)
{
    json_t *data = json_pack("{s:s, s:o, s:b}", "code", code ? code : ERR_INTERNAL, "message",
                             json_msg_text(message), "recoverable", recoverable);
    if (data && stage)
        json_object_set_new(
            data, "details",
            json_pack("{s:s, s:o}", "stage", stage, "error", json_msg_text(message)));
    char *s = envelope_encode("error", request_id, data);
    return s ? s : strdup(ENVELOPE_FALLBACK);
}
