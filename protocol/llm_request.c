#include "protocol/llm_request.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A JSON string for s; invalid UTF-8 bytes become '?'. */
static json_t *json_text(const char *s)
{
    if (!s) s = "";
    json_t *j = json_string(s);
    if (j) return j;
    char *c = strdup(s);
    if (!c) return NULL;
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    j = json_string(c);
    free(c);
    return j;
}

static json_t *message(const char *role, const char *content)
{
    json_t *m = json_object();
    json_object_set_new(m, "role", json_text(role ? role : "user"));
    json_object_set_new(m, "content", json_text(content));
    return m;
}

char *llm_request_encode(llm_dialect_t dialect, const char *model, const llm_message_t *messages,
                         size_t n, const char *question, double temperature, uint32_t max_tokens)
{
    return llm_request_encode_mode(dialect, model, messages, n, question, temperature, max_tokens,
                                   0);
}

char *llm_request_encode_mode(llm_dialect_t dialect, const char *model,
                              const llm_message_t *messages, size_t n, const char *question,
                              double temperature, uint32_t max_tokens, int json_mode)
{
    json_t *root = json_object(), *msgs = json_array();
    if (!root || !msgs) {
        json_decref(root);
        json_decref(msgs);
        return NULL;
    }
    json_object_set_new(root, "model", json_text(model));
    for (size_t i = 0; i < n; i++)
        json_array_append_new(msgs, message(messages[i].role, messages[i].content));
    if (n == 0) json_array_append_new(msgs, message("user", question));
    json_object_set_new(root, "messages", msgs);
    json_object_set_new(root, "stream", json_true());
    if (dialect == LLM_DIALECT_OPENAI) {
        json_object_set_new(root, "temperature", json_real(temperature));
        json_object_set_new(root, "max_tokens", json_integer(max_tokens));
        if (json_mode)
            json_object_set_new(root, "response_format", json_pack("{s:s}", "type", "json_object"));
    } else {
        if (json_mode) json_object_set_new(root, "format", json_string("json"));
        json_t *o = json_object();
        json_object_set_new(o, "temperature", json_real(temperature));
        json_object_set_new(o, "num_predict", json_integer(max_tokens));
        json_object_set_new(root, "options", o);
    }
    char *body = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10)); /* 0.3, not 0.299... */
    json_decref(root);
    return body;
}
