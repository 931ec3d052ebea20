/* protocol/llm_request.c: the OpenAI and Ollama chat request bodies
 * (exact bytes, key order, escaping, non-ASCII, invalid UTF-8). */
#include "tests/unit/unit.h"
#include "protocol/llm_request.h"

#include <jansson.h>
#include <stdlib.h>

static const llm_message_t MSGS[] = {
    {"system", "Use the passages."},
    {"user", "What is a ring?"},
};

static void test_openai_shape(void)
{
    char *s = llm_request_encode(LLM_DIALECT_OPENAI, "gpt-x", MSGS, 2, NULL, 0.3, 77);
    CHECK_EQ_STR(s, "{\"model\":\"gpt-x\",\"messages\":[{\"role\":\"system\",\"content\":\"Use the "
                    "passages.\"},{\"role\":\"user\",\"content\":\"What is a ring?\"}],"
                    "\"stream\":true,\"temperature\":0.3,\"max_tokens\":77}");
    free(s);
}

static void test_ollama_shape(void)
{
    char *s = llm_request_encode(LLM_DIALECT_OLLAMA, "llama", MSGS, 1, NULL, 0.25, 5);
    CHECK_EQ_STR(s, "{\"model\":\"llama\",\"messages\":[{\"role\":\"system\",\"content\":\"Use the "
                    "passages.\"}],\"stream\":true,\"options\":{\"temperature\":0.25,"
                    "\"num_predict\":5}}");
    free(s);
}

static void test_question_only_and_defaults(void)
{
    /* No messages: one user message with the question; NULL role: user. */
    char *s = llm_request_encode(LLM_DIALECT_OPENAI, NULL, NULL, 0, "Just this?", 0, 1);
    CHECK_EQ_STR(s, "{\"model\":\"\",\"messages\":[{\"role\":\"user\",\"content\":\"Just this?\"}],"
                    "\"stream\":true,\"temperature\":0.0,\"max_tokens\":1}");
    free(s);
    const llm_message_t m[1] = {{NULL, NULL}};
    s = llm_request_encode(LLM_DIALECT_OPENAI, "m", m, 1, "ignored", 1, 2);
    CHECK_EQ_STR(s, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\"}],"
                    "\"stream\":true,\"temperature\":1.0,\"max_tokens\":2}");
    free(s);
}

static void test_escaping_and_non_ascii(void)
{
    const llm_message_t m[1] = {{"user", "\"q\" \\ line\nnext\t\x01 Grüße 日本 😀"}};
    char *s = llm_request_encode(LLM_DIALECT_OPENAI, "m", m, 1, NULL, 0.5, 3);
    CHECK(s && strstr(s, "\"content\":\"\\\"q\\\" \\\\ line\\nnext\\t\\u0001 Grüße 日本 😀\""));
    json_t *v = s ? json_loads(s, 0, NULL) : NULL;
    CHECK(v != NULL);
    json_t *msg = json_array_get(json_object_get(v, "messages"), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(msg, "content")), m[0].content);
    json_decref(v);
    free(s);
}

static void test_invalid_utf8(void)
{
    /* Not valid UTF-8: every non-ASCII byte becomes '?', also in valid
     * characters of the same text. */
    const llm_message_t m[1] = {{"user", "é and \xff\xfe"}};
    char *s = llm_request_encode(LLM_DIALECT_OLLAMA, "mod\xc3", m, 1, NULL, 0.1, 9);
    CHECK_EQ_STR(s, "{\"model\":\"mod?\",\"messages\":[{\"role\":\"user\",\"content\":\"?? and "
                    "??\"}],\"stream\":true,\"options\":{\"temperature\":0.1,\"num_predict\":9}}");
    free(s);
}

static void test_json_mode(void)
{
    const llm_message_t m[1] = {{"user", "Analyse"}};
    char *s = llm_request_encode_mode(LLM_DIALECT_OPENAI, "m", m, 1, NULL, 0.5, 3, 1);
    CHECK(s && strstr(s, ",\"response_format\":{\"type\":\"json_object\"}") != NULL);
    free(s);
    s = llm_request_encode_mode(LLM_DIALECT_OLLAMA, "m", m, 1, NULL, 0.5, 3, 1);
    CHECK(s && strstr(s, "\"format\":\"json\"") != NULL);
    free(s);
    s = llm_request_encode_mode(LLM_DIALECT_OLLAMA, "m", m, 1, NULL, 0.5, 3, 0);
    CHECK(s && strstr(s, "format") == NULL);
    free(s);
}

int main(void)
{
    RUN(test_json_mode);
    RUN(test_openai_shape);
    RUN(test_ollama_shape);
    RUN(test_question_only_and_defaults);
    RUN(test_escaping_and_non_ascii);
    RUN(test_invalid_utf8);
    return UNIT_SUMMARY();
}
