/* protocol/envelope.c: the seed 004 {"type","request_id","data"}
 * envelope and its error message. */
#include "tests/unit/unit.h"
#include "tests/unit/protocol/json_check.h"
#include "protocol/envelope.h"
#include "protocol/json_msg.h"

static void test_encode_shape(void)
{
    char *s = envelope_encode("status", "r-1", json_pack("{s:s}", "stage", "retrieval"));
    CHECK_EQ_STR(s,
                 "{\"type\":\"status\",\"request_id\":\"r-1\",\"data\":{\"stage\":\"retrieval\"}}");
    CHECK(jwire_ok(s));
    free(s);
    /* request_id is always present: null when unknown. */
    s = envelope_encode("pong", NULL, json_object());
    CHECK_EQ_STR(s, "{\"type\":\"pong\",\"request_id\":null,\"data\":{}}");
    free(s);
    /* The caller's pack failed: nothing to send. */
    CHECK(envelope_encode("status", "r", NULL) == NULL);
}

static void test_encode_escapes_request_id(void)
{
    char *s = envelope_encode("x", T_TRICKY, json_object());
    CHECK(has(s, "\"request_id\":" T_TRICKY_JSON ","));
    CHECK(jwire_ok(s));
    free(s);
    s = envelope_encode("x", T_FR " " T_EMOJI, json_object());
    json_t *v = jparse(s);
    CHECK_EQ_STR(jstr(v, "request_id"), T_FR " " T_EMOJI);
    json_decref(v);
    free(s);
    s = envelope_encode("x", T_BAD, json_object());
    CHECK(has(s, "\"request_id\":" T_BAD_JSON));
    CHECK(jwire_ok(s));
    free(s);
}

static void test_error_shape(void)
{
    char *s = envelope_error("r-2", ERR_VALIDATION, "data.query is required", NULL, 1);
    CHECK_EQ_STR(s, "{\"type\":\"error\",\"request_id\":\"r-2\",\"data\":{\"code\":"
                    "\"VALIDATION_ERROR\",\"message\":\"data.query is required\","
                    "\"recoverable\":true}}");
    free(s);
    /* With a stage: details name it and repeat the message. */
    s = envelope_error(NULL, "LLM_UNAVAILABLE", "backend down", "generation", 0);
    json_t *v = jparse(s);
    CHECK(json_is_null(jget(v, "request_id")));
    CHECK_EQ_STR(jstr(v, "data.code"), "LLM_UNAVAILABLE");
    CHECK_EQ_STR(jstr(v, "data.details.stage"), "generation");
    CHECK_EQ_STR(jstr(v, "data.details.error"), "backend down");
    CHECK(json_is_false(jget(v, "data.recoverable")));
    CHECK_EQ_INT(jsize(v, "data"), 4);
    json_decref(v);
    free(s);
    /* No code: INTERNAL_ERROR. */
    s = envelope_error("r", NULL, "oops", NULL, 1);
    v = jparse(s);
    CHECK_EQ_STR(jstr(v, "data.code"), ERR_INTERNAL);
    json_decref(v);
    free(s);
}

static void test_error_escapes_message(void)
{
    char *s = envelope_error("r", ERR_VALIDATION, T_TRICKY, "stage", 1);
    CHECK(has(s, "\"message\":" T_TRICKY_JSON));
    CHECK(has(s, "\"error\":" T_TRICKY_JSON));
    CHECK(jwire_ok(s));
    free(s);
    s = envelope_error("r", ERR_VALIDATION, T_BAD, NULL, 1);
    CHECK(has(s, "\"message\":" T_BAD_JSON));
    CHECK(jwire_ok(s));
    free(s);
    s = envelope_error(T_EMOJI, ERR_VALIDATION, T_FR, NULL, 1);
    json_t *v = jparse(s);
    CHECK_EQ_STR(jstr(v, "request_id"), T_EMOJI);
    CHECK_EQ_STR(jstr(v, "data.message"), T_FR);
    json_decref(v);
    free(s);
    /* NULL message: an empty string, still a valid error. */
    s = envelope_error("r", ERR_INTERNAL, NULL, NULL, 1);
    v = jparse(s);
    CHECK_EQ_STR(jstr(v, "data.message"), "");
    json_decref(v);
    free(s);
}

int main(void)
{
    RUN(test_encode_shape);
    RUN(test_encode_escapes_request_id);
    RUN(test_error_shape);
    RUN(test_error_escapes_message);
    return UNIT_SUMMARY();
}
