/* protocol/json_msg.c: parsing a client object with a precise error,
 * type and name checks, and the wire encoding (escaping, UTF-8 repair). */
#include "tests/unit/unit.h"
#include "tests/unit/protocol/json_check.h"
#include "protocol/json_msg.h"

static json_t *parse(const char *s, const char **code, char *err, size_t errlen)
{
    *code = NULL;
    err[0] = '\0';
    return json_msg_parse(s, strlen(s), code, err, errlen);
}

static void test_parse_object(void)
{
    const char *code;
    char err[256];
    json_t *v =
        parse("{\"type\":\"query\",\"text\":\"" T_FR " " T_EMOJI "\"}", &code, err, sizeof err);
    CHECK(v != NULL);
    CHECK_EQ_STR(jstr(v, "text"), T_FR " " T_EMOJI);
    CHECK(code == NULL);
    json_decref(v);
    /* Only the len bytes are read: no NUL terminator needed. */
    const char two[] = "{\"a\":1}{\"b\":2}";
    v = json_msg_parse(two, 7, &code, err, sizeof err);
    CHECK(v != NULL && jint(v, "a") == 1);
    json_decref(v);
}

static void test_parse_errors(void)
{
    const char *code;
    char err[256];
    CHECK(parse("{\"a\":", &code, err, sizeof err) == NULL);
    CHECK_EQ_STR(code, ERR_INVALID_JSON);
    CHECK(has(err, "invalid JSON at line 1, column "));
    CHECK(parse("", &code, err, sizeof err) == NULL);
    CHECK_EQ_STR(code, ERR_INVALID_JSON);
    /* Two "type" keys are ambiguous. */
    CHECK(parse("{\"type\":\"a\",\"type\":\"b\"}", &code, err, sizeof err) == NULL);
    CHECK_EQ_STR(code, ERR_INVALID_JSON);
    CHECK(has(err, "duplicate object key"));
    /* jansson quotes input bytes: the error stays valid UTF-8. */
    CHECK(parse("{\"a\":\"\xff\xfe\"}", &code, err, sizeof err) == NULL);
    CHECK_EQ_STR(code, ERR_INVALID_JSON);
    CHECK(utf8_valid(err, strlen(err), NULL));
    CHECK(parse("{\"\xc3\":1}", &code, err, sizeof err) == NULL);
    CHECK(utf8_valid(err, strlen(err), NULL));
    static const char *const not_objects[] = {"[1,2]", "\"s\"", "3", "null", "true"};
    for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++) {
        CHECK(parse(not_objects[i], &code, err, sizeof err) == NULL);
        CHECK_EQ_STR(code, ERR_VALIDATION);
        CHECK_EQ_STR(err, "message must be a JSON object");
    }
    /* A short err buffer is cut, never overrun. */
    char small[8];
    CHECK(parse("{", &code, small, sizeof small) == NULL);
    CHECK_EQ_INT(strlen(small), sizeof small - 1);
}

static void test_type(void)
{
    char err[128];
    json_t *v = jparse("{\"type\":\"chat\"}");
    CHECK_EQ_STR(json_msg_type(v, err, sizeof err), "chat");
    json_decref(v);
    v = jparse("{\"kind\":\"chat\"}");
    CHECK(json_msg_type(v, err, sizeof err) == NULL);
    CHECK_EQ_STR(err, "field \"type\" is required");
    json_decref(v);
    v = jparse("{\"type\":7}");
    CHECK(json_msg_type(v, err, sizeof err) == NULL);
    CHECK_EQ_STR(err, "field \"type\" must be a string");
    json_decref(v);
}

static void test_names(void)
{
    CHECK(channel_name_valid("news", 4));
    CHECK(channel_name_valid("a_b.c:d-e", 9));
    char longest[CHANNEL_MAX_LEN + 2];
    memset(longest, 'x', sizeof longest);
    CHECK(channel_name_valid(longest, CHANNEL_MAX_LEN));
    CHECK(!channel_name_valid(longest, CHANNEL_MAX_LEN + 1));
    CHECK(!channel_name_valid("", 0));
    CHECK(!channel_name_valid("a b", 3));
    CHECK(!channel_name_valid("a/b", 3));
    CHECK(!channel_name_valid("\"x\"", 3));
    CHECK(!channel_name_valid("café", strlen("café")));
    CHECK(!channel_name_valid("🚀", strlen("🚀")));
    CHECK(!channel_name_valid("a\0b", 3)); /* a NUL inside the length */
    CHECK(name_valid("a-b", 3, 3, "-"));
    CHECK(!name_valid("a-b", 3, 2, "-"));
    CHECK(!name_valid("a_b", 3, 3, "-"));
}

static void test_text_escaping(void)
{
    char *s = json_msg_dump_free(json_msg_text(T_TRICKY));
    CHECK_EQ_STR(s, T_TRICKY_JSON);
    free(s);
    /* Non-ASCII goes out as UTF-8, not as \u escapes. */
    s = json_msg_dump_free(json_msg_text(T_FR));
    CHECK_EQ_STR(s, "\"" T_FR "\"");
    free(s);
    s = json_msg_dump_free(json_msg_text(T_EMOJI));
    CHECK_EQ_STR(s, "\"" T_EMOJI "\"");
    free(s);
    s = json_msg_dump_free(json_msg_text(T_BAD));
    CHECK_EQ_STR(s, T_BAD_JSON);
    free(s);
    s = json_msg_dump_free(json_msg_text(NULL));
    CHECK_EQ_STR(s, "\"\"");
    free(s);
    /* textn takes exactly len bytes: a NUL inside is escaped, a character
     * cut by len is repaired. */
    s = json_msg_dump_free(json_msg_textn("a\0b", 3));
    CHECK_EQ_STR(s, "\"a\\u0000b\"");
    free(s);
    s = json_msg_dump_free(json_msg_textn("é🚀", 4)); /* é and 2 of the rocket's 4 bytes */
    CHECK_EQ_STR(s, "\"é??\"");
    free(s);
}

static void test_dump(void)
{
    json_t *o = json_pack("{s:f, s:f, s:s, s:[i, b, n]}", "t", 0.1, "p", 0.3, "s", "x", "a", 1, 1);
    char *s = json_msg_dump(o);
    CHECK_EQ_STR(s, "{\"t\":0.1,\"p\":0.3,\"s\":\"x\",\"a\":[1,true,null]}");
    CHECK(jwire_ok(s));
    free(s);
    json_decref(o);
    CHECK(json_msg_dump(NULL) == NULL);
    CHECK(json_msg_dump_free(NULL) == NULL);
    /* A member that is not UTF-8 (built without the check) cannot go out. */
    o = json_object();
    json_object_set_new(o, "bad", json_stringn_nocheck("\xff", 1));
    CHECK(json_msg_dump(o) == NULL);
    CHECK(json_msg_dump_free(o) == NULL); /* and o is released */
    /* Scalars are encoded too (JSON_ENCODE_ANY). */
    s = json_msg_dump_free(json_integer(42));
    CHECK_EQ_STR(s, "42");
    free(s);
}

int main(void)
{
    RUN(test_parse_object);
    RUN(test_parse_errors);
    RUN(test_type);
    RUN(test_names);
    RUN(test_text_escaping);
    RUN(test_dump);
    return UNIT_SUMMARY();
}
