/* protocol/chat.c: /chat/ws client messages (message, reaction) and the
 * server's chunk / complete / error / reaction_saved. */
#include "tests/unit/unit.h"
#include "tests/unit/protocol/json_check.h"
#include "protocol/chat.h"
#include "protocol/json_msg.h"

#include <stdio.h>

typedef struct {
    int rc;
    const char *code;
    char err[256];
    chat_msg_t m;
} parsed_t;

static void parse(const char *s, parsed_t *p)
{
    p->code = NULL;
    p->err[0] = '\0';
    p->rc = chat_msg_parse(s, strlen(s), &p->m, &p->code, p->err, sizeof p->err);
    CHECK(utf8_valid(p->err, strlen(p->err), NULL));
}

static void expect_error(const char *s, const char *code, const char *want)
{
    parsed_t p;
    parse(s, &p);
    CHECK_EQ_INT(p.rc, -1);
    CHECK_EQ_STR(p.code, code);
    if (!has(p.err, want)) fprintf(stderr, "  err was: %s (for %s)\n", p.err, s);
    CHECK(has(p.err, want));
    chat_msg_free(&p.m);
}

static void test_message(void)
{
    parsed_t p;
    /* No type: a message. */
    parse("{\"message\":\"" T_FR " " T_EMOJI "\",\"timestamp\":\"2024-08-15T10:30:00Z\"}", &p);
    CHECK_EQ_INT(p.rc, 0);
    CHECK_EQ_INT(p.m.kind, CHAT_MESSAGE);
    CHECK_EQ_STR(p.m.message, T_FR " " T_EMOJI);
    CHECK_EQ_STR(p.m.conversation_id, "");
    chat_msg_free(&p.m);
    CHECK(p.m.root == NULL);
    parse(
        "{\"type\":\"message\",\"message\":\"q \\\"x\\\" \\\\\",\"conversation_id\":\"conv-1.a_b\","
        "\"timestamp\":null}",
        &p);
    CHECK_EQ_INT(p.rc, 0);
    CHECK_EQ_STR(p.m.message, "q \"x\" \\");
    CHECK_EQ_STR(p.m.conversation_id, "conv-1.a_b");
    chat_msg_free(&p.m);
    parse("{\"message\":\"hi\",\"conversation_id\":null}", &p);
    CHECK_EQ_INT(p.rc, 0);
    chat_msg_free(&p.m);
}

static void test_reaction(void)
{
    parsed_t p;
    parse("{\"type\":\"reaction\",\"message_id\":\"bot_12\",\"reaction\":\"👍\"}", &p);
    CHECK_EQ_INT(p.rc, 0);
    CHECK_EQ_INT(p.m.kind, CHAT_REACTION);
    CHECK_EQ_STR(p.m.message_id, "bot_12");
    CHECK_EQ_STR(p.m.reaction, "👍");
    chat_msg_free(&p.m);
}

static void test_errors(void)
{
    expect_error("{\"message\":", ERR_INVALID_JSON, "invalid JSON at line 1");
    expect_error("\"hello\"", ERR_VALIDATION, "message must be a JSON object");
    expect_error("{\"type\":3,\"message\":\"x\"}", ERR_VALIDATION, "\"type\" must be a string");
    expect_error("{\"type\":\"typing\"}", ERR_UNKNOWN_TYPE,
                 "unknown message type \"typing\" (send {\"message\": ...} or a reaction)");
    expect_error("{\"text\":\"x\"}", ERR_VALIDATION, "\"message\" (string) is required");
    expect_error("{\"message\":5}", ERR_VALIDATION, "\"message\" (string) is required");
    expect_error("{\"message\":\"\"}", ERR_VALIDATION, "\"message\" must not be empty");
    expect_error("{\"message\":\" \\t\\r\\n \"}", ERR_VALIDATION, "\"message\" must not be empty");
    expect_error("{\"message\":\"x\",\"timestamp\":12}", ERR_VALIDATION,
                 "\"timestamp\" must be an ISO 8601 string");
    expect_error("{\"message\":\"x\",\"conversation_id\":\"a b\"}", ERR_VALIDATION,
                 "\"conversation_id\": 1 to 64 characters of A-Z a-z 0-9 _ - .");
    expect_error("{\"message\":\"x\",\"conversation_id\":\"é\"}", ERR_VALIDATION,
                 "\"conversation_id\"");
    expect_error("{\"message\":\"x\",\"conversation_id\":7}", ERR_VALIDATION,
                 "\"conversation_id\"");
    /* Reactions. */
    expect_error("{\"type\":\"reaction\",\"reaction\":\"x\"}", ERR_VALIDATION,
                 "reaction: \"message_id\" (e.g. \"bot_1\") is required");
    expect_error("{\"type\":\"reaction\",\"message_id\":\"bot 1\",\"reaction\":\"x\"}",
                 ERR_VALIDATION, "reaction: \"message_id\"");
    expect_error("{\"type\":\"reaction\",\"message_id\":\"b0123456789012345678901234567890\","
                 "\"reaction\":\"x\"}",
                 ERR_VALIDATION, "reaction: \"message_id\""); /* 32 bytes: too long */
    expect_error("{\"type\":\"reaction\",\"message_id\":\"bot_1\"}", ERR_VALIDATION,
                 "reaction: \"reaction\" must be a string of 1 to 64 bytes");
    expect_error("{\"type\":\"reaction\",\"message_id\":\"bot_1\",\"reaction\":\"\"}",
                 ERR_VALIDATION, "reaction: \"reaction\" must be");
    /* 17 emoji are 68 bytes. */
    expect_error("{\"type\":\"reaction\",\"message_id\":\"bot_1\",\"reaction\":"
                 "\"🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀\"}",
                 ERR_VALIDATION, "reaction: \"reaction\" must be");
}

static void test_length_limit_and_quote_cut(void)
{
    static char msg[CHAT_MAX_CHARS + 64];
    for (int over = 0; over <= 1; over++) {
        int n = snprintf(msg, sizeof msg, "{\"message\":\"");
        memset(msg + n, 'a', CHAT_MAX_CHARS + over);
        snprintf(msg + n + CHAT_MAX_CHARS + over, sizeof msg - n - CHAT_MAX_CHARS - over, "\"}");
        parsed_t p;
        parse(msg, &p);
        CHECK_EQ_INT(p.rc, over ? -1 : 0);
        if (over) CHECK_EQ_STR(p.err, "\"message\" must be at most 8192 bytes of text");
        chat_msg_free(&p.m);
    }
    char big[512] = "{\"type\":\"";
    for (int i = 0; i < 30; i++) strcat(big, "é🚀");
    strcat(big, "\"}");
    parsed_t p;
    parse(big, &p);
    CHECK_EQ_STR(p.code, ERR_UNKNOWN_TYPE);
    /* 64 bytes of quote: ten "é🚀" (60 bytes) and an é, not a cut rocket. */
    char want[128] = "\"";
    for (int i = 0; i < 10; i++) strcat(want, "é🚀");
    strcat(want, "é\" (send");
    CHECK(has(p.err, want));
    chat_msg_free(&p.m);
}

static void test_encoders(void)
{
    char *s = chat_chunk("bot_1", "Bonjour 🚀 et la suite", strlen("Bonjour 🚀"));
    CHECK_EQ_STR(s, "{\"type\":\"chunk\",\"message_id\":\"bot_1\",\"text\":\"Bonjour 🚀\"}");
    free(s);
    s = chat_chunk("bot_1", T_TRICKY, strlen(T_TRICKY));
    CHECK_EQ_STR(s, "{\"type\":\"chunk\",\"message_id\":\"bot_1\",\"text\":" T_TRICKY_JSON "}");
    CHECK(jwire_ok(s));
    free(s);
    s = chat_chunk("bot_1", "🚀", 3); /* cut inside the character */
    CHECK_EQ_STR(s, "{\"type\":\"chunk\",\"message_id\":\"bot_1\",\"text\":\"???\"}");
    free(s);
    s = chat_complete("bot_2", NULL);
    CHECK_EQ_STR(s, "{\"type\":\"complete\",\"message_id\":\"bot_2\"}");
    free(s);
    s = chat_complete("bot_2", "conv-" T_FR);
    CHECK_EQ_STR(s,
                 "{\"type\":\"complete\",\"message_id\":\"bot_2\",\"conversation_id\":\"conv-" T_FR
                 "\"}");
    free(s);
    s = chat_reaction_saved("bot_3", "❤️");
    CHECK_EQ_STR(s,
                 "{\"type\":\"reaction_saved\",\"message_id\":\"bot_3\",\"reaction\":\"❤️\"}");
    free(s);
    s = chat_reaction_saved(T_TRICKY, T_BAD);
    CHECK(has(s, "\"message_id\":" T_TRICKY_JSON ",\"reaction\":" T_BAD_JSON "}"));
    CHECK(jwire_ok(s));
    free(s);
}

static void test_error_encoder(void)
{
    char *s = chat_error("\"message\" must not be empty", NULL, ERR_VALIDATION);
    CHECK_EQ_STR(s, "{\"type\":\"error\",\"message\":\"\\\"message\\\" must not be empty\","
                    "\"code\":\"VALIDATION_ERROR\"}");
    free(s);
    s = chat_error(T_FR " " T_EMOJI, "bot_4", "LLM_UNAVAILABLE");
    json_t *v = jparse(s);
    CHECK_EQ_STR(jstr(v, "message"), T_FR " " T_EMOJI);
    CHECK_EQ_STR(jstr(v, "message_id"), "bot_4");
    CHECK_EQ_STR(jstr(v, "code"), "LLM_UNAVAILABLE");
    json_decref(v);
    free(s);
    s = chat_error(T_BAD, NULL, NULL);
    CHECK_EQ_STR(s, "{\"type\":\"error\",\"message\":" T_BAD_JSON ",\"code\":\"INTERNAL_ERROR\"}");
    free(s);
}

int main(void)
{
    RUN(test_message);
    RUN(test_reaction);
    RUN(test_errors);
    RUN(test_length_limit_and_quote_cut);
    RUN(test_encoders);
    RUN(test_error_encoder);
    return UNIT_SUMMARY();
}
