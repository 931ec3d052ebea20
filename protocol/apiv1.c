#include "protocol/apiv1.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/json_msg.h"

/* Sent when the error itself cannot be encoded (out of memory). */
static const char APIV1_FALLBACK[] =
    "{\"type\":\"error\",\"content\":{\"message\":\"internal error\",\"code\":\"INTERNAL_ERROR\"}}";

char *apiv1_error(const char *code, const char *message)
{
    json_t *o = json_pack("{s:s, s:{s:o, s:s}}", "type", "error", "content", "message",
                          json_msg_text(message), "code", code ? code : ERR_INTERNAL);
    char *s = json_msg_dump_free(o);
    return s ? s : strdup(APIV1_FALLBACK);
}

char *apiv1_response(const char *answer, json_t *sources)
{
    return json_msg_dump_free(json_pack("{s:s, s:{s:o, s:O}}", "type", "response", "content",
                                        "answer", json_msg_text(answer), "sources", sources));
}

char *apiv1_follow_up_questions(const char *const *questions, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (questions[i] && questions[i][0]) json_array_append_new(arr, json_string(questions[i]));
    if (!json_array_size(arr)) {
        json_decref(arr);
        return NULL;
    }
    return json_msg_dump_free(
        json_pack("{s:s, s:o}", "type", "follow_up_questions", "questions", arr));
}
