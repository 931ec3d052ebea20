#include "protocol/envelope.h"

#include <stdlib.h>

#include "protocol/json_msg.h"

char *envelope_encode(const char *type, const char *request_id, json_t *data)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    if (request_id) json_object_set_new(o, "request_id", json_string(request_id));
    json_object_set_new(o, "data", data ? data : json_object());
    char *s = json_msg_dump(o);
    json_decref(o);
    return s;
}

char *envelope_error(const char *request_id, const char *code,
                     const char *message, const char *stage, int recoverable)
{
    json_t *data = json_pack("{s:s, s:s, s:b}", "code", code, "message",
                             message, "recoverable", recoverable);
    if (stage)
        json_object_set_new(data, "details",
                            json_pack("{s:s, s:s}", "stage", stage, "error", message));
    return envelope_encode("error", request_id, data);
}
