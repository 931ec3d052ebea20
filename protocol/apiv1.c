#include "protocol/apiv1.h"

#include "protocol/json_msg.h"

char *apiv1_error(const char *code, const char *message)
{
    json_t *o = json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "content",
                          "message", message, "code", code);
    char *s = json_msg_dump(o);
    json_decref(o);
    return s;
}
