/* protocol/apiv1.c: the /api/v1/ws messages {"type","content"}. */
#include "tests/unit/unit.h"
#include "tests/unit/protocol/json_check.h"
#include "protocol/apiv1.h"
#include "protocol/json_msg.h"

static void test_error_shape(void)
{
    char *s = apiv1_error(ERR_UNKNOWN_TYPE, "unknown message type");
    CHECK_EQ_STR(s, "{\"type\":\"error\",\"content\":{\"message\":\"unknown message type\","
                    "\"code\":\"UNKNOWN_TYPE\"}}");
    CHECK(jwire_ok(s));
    free(s);
    s = apiv1_error(NULL, "x");
    json_t *v = jparse(s);
    CHECK_EQ_STR(jstr(v, "content.code"), ERR_INTERNAL);
    CHECK_EQ_INT(jsize(v, "content"), 2);
    json_decref(v);
    free(s);
}

static void test_error_escapes(void)
{
    char *s = apiv1_error(ERR_VALIDATION, T_TRICKY);
    CHECK(has(s, "\"message\":" T_TRICKY_JSON ","));
    CHECK(jwire_ok(s));
    free(s);
    s = apiv1_error(ERR_VALIDATION, T_BAD);
    CHECK(has(s, "\"message\":" T_BAD_JSON));
    free(s);
    s = apiv1_error(ERR_VALIDATION, T_FR " " T_EMOJI);
    json_t *v = jparse(s);
    CHECK_EQ_STR(jstr(v, "content.message"), T_FR " " T_EMOJI);
    json_decref(v);
    free(s);
}

static void test_response(void)
{
    json_t *sources = json_pack("[{s:s, s:i}]", "filename", "é.md", "page", 2);
    char *s = apiv1_response("Réponse 🚀 \"citée\"", sources);
    CHECK_EQ_STR(s, "{\"type\":\"response\",\"content\":{\"answer\":\"Réponse 🚀 \\\"citée\\\"\","
                    "\"sources\":[{\"filename\":\"é.md\",\"page\":2}]}}");
    CHECK(jwire_ok(s));
    free(s);
    /* sources is borrowed: still ours, with one reference. */
    CHECK_EQ_INT(sources->refcount, 1);
    json_decref(sources);
    json_t *none = json_array();
    s = apiv1_response(T_BAD, none);
    CHECK(has(s, "\"answer\":" T_BAD_JSON ",\"sources\":[]"));
    free(s);
    json_decref(none);
    /* Without sources it cannot be encoded. */
    CHECK(apiv1_response("a", NULL) == NULL);
}

int main(void)
{
    RUN(test_error_shape);
    RUN(test_error_escapes);
    RUN(test_response);
    return UNIT_SUMMARY();
}
