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

char *apiv1_response(const char *answer, json_t *sources)
{
    json_t *o = json_pack("{s:s, s:{s:s, s:O}}", "type", "response", "content", "answer",
                          answer, "sources", sources);
    char *s = json_msg_dump(o);
    json_decref(o);
    return s;
}
