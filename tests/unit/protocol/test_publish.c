/* protocol/publish.c: {"channel","message"} of POST /api/broadcast and
 * /ws/publish. */
#include "tests/unit/unit.h"
#include "tests/unit/protocol/json_check.h"
#include "protocol/json_msg.h"
#include "protocol/publish.h"

#include <stdio.h>

static int parse(const char *s, publish_req_t *r, const char **code, char *err, size_t errlen)
{
    *code = NULL;
    err[0] = '\0';
    return publish_parse(s, strlen(s), r, code, err, errlen);
}

static void expect_error(const char *s, const char *code, const char *want)
{
    publish_req_t r;
    const char *c;
    char err[256];
    CHECK_EQ_INT(parse(s, &r, &c, err, sizeof err), -1);
    CHECK_EQ_STR(c, code);
    if (!has(err, want)) fprintf(stderr, "  err was: %s (for %s)\n", err, s);
    CHECK(has(err, want));
    CHECK(utf8_valid(err, strlen(err), NULL));
    CHECK(r.payload == NULL); /* nothing to free on error */
}

static void test_ok(void)
{
    publish_req_t r;
    const char *code;
    char err[256];
    const char *in = "{\"channel\":\"news.fr:main-1\",\"message\": {\"title\" : \"" T_FR "\","
                     " \"icon\":\"" T_EMOJI "\", \"n\": [1, 2.5, true, null]}}";
    CHECK_EQ_INT(parse(in, &r, &code, err, sizeof err), 0);
    CHECK_EQ_STR(r.channel, "news.fr:main-1");
    CHECK_EQ_INT(r.channel_len, strlen("news.fr:main-1"));
    /* The payload is the message, compact, UTF-8 as is. */
    CHECK_EQ_STR(r.payload,
                 "{\"title\":\"" T_FR "\",\"icon\":\"" T_EMOJI "\",\"n\":[1,2.5,true,null]}");
    CHECK_EQ_INT(r.payload_len, strlen(r.payload));
    free(r.payload);
}

static void test_payload_escaping(void)
{
    publish_req_t r;
    const char *code;
    char err[256];
    const char *in = "{\"channel\":\"c\",\"message\":{\"t\":\"q \\\" b \\\\ s \\/ t \\t n \\n "
                     "bell \\u0007 \\u00e9 \\ud83d\\ude80\"}}";
    CHECK_EQ_INT(parse(in, &r, &code, err, sizeof err), 0);
    /* Escapes are normalised: \/ becomes /, \u00e9 and the surrogate pair
     * become UTF-8, controls stay escaped. */
    CHECK_EQ_STR(r.payload, "{\"t\":\"q \\\" b \\\\ s / t \\t n \\n bell \\u0007 é 🚀\"}");
    CHECK(jwire_ok(r.payload));
    free(r.payload);
}

static void test_channel_limits(void)
{
    char ch[70];
    memset(ch, 'c', sizeof ch);
    char msg[256];
    publish_req_t r;
    const char *code;
    char err[256];
    snprintf(msg, sizeof msg, "{\"channel\":\"%.64s\",\"message\":{}}", ch);
    CHECK_EQ_INT(parse(msg, &r, &code, err, sizeof err), 0);
    CHECK_EQ_INT(r.channel_len, 64);
    free(r.payload);
    snprintf(msg, sizeof msg, "{\"channel\":\"%.65s\",\"message\":{}}", ch);
    expect_error(msg, ERR_VALIDATION,
                 "field \"channel\": 1 to 64 characters of A-Z a-z 0-9 _ . : -");
}

static void test_errors(void)
{
    expect_error("{\"channel\":", ERR_INVALID_JSON, "invalid JSON at line 1");
    expect_error("{\"channel\":\"a\",\"channel\":\"b\",\"message\":{}}", ERR_INVALID_JSON,
                 "duplicate object key");
    expect_error("[]", ERR_VALIDATION, "message must be a JSON object");
    expect_error("{\"message\":{}}", ERR_VALIDATION, "field \"channel\" (string) is required");
    expect_error("{\"channel\":1,\"message\":{}}", ERR_VALIDATION,
                 "field \"channel\" (string) is required");
    expect_error("{\"channel\":\"\",\"message\":{}}", ERR_VALIDATION, "field \"channel\": 1 to 64");
    expect_error("{\"channel\":\"a b\",\"message\":{}}", ERR_VALIDATION,
                 "field \"channel\": 1 to 64");
    expect_error("{\"channel\":\"a/b\",\"message\":{}}", ERR_VALIDATION, "field \"channel\":");
    expect_error("{\"channel\":\"café\",\"message\":{}}", ERR_VALIDATION, "field \"channel\":");
    expect_error("{\"channel\":\"🚀\",\"message\":{}}", ERR_VALIDATION, "field \"channel\":");
    expect_error("{\"channel\":\"c\"}", ERR_VALIDATION,
                 "field \"message\" (JSON object) is required");
    expect_error("{\"channel\":\"c\",\"message\":\"text\"}", ERR_VALIDATION,
                 "field \"message\" (JSON object) is required");
    expect_error("{\"channel\":\"c\",\"message\":[1]}", ERR_VALIDATION, "field \"message\"");
    expect_error("{\"channel\":\"c\",\"message\":null}", ERR_VALIDATION, "field \"message\"");
}

int main(void)
{
    RUN(test_ok);
    RUN(test_payload_escaping);
    RUN(test_channel_limits);
    RUN(test_errors);
    return UNIT_SUMMARY();
}
