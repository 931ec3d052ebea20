/* protocol/apiv1.c: the follow_up_questions broadcast (S4.1) and the
 * channel constant it goes to. */
#include "tests/unit/unit.h"
#include "protocol/apiv1.h"

#include <jansson.h>
#include <stdlib.h>

static void test_shape(void)
{
    const char *q[3] = {"What is a ring?", "How fast is it?", "Why shared memory?"};
    char *s = apiv1_follow_up_questions(q, 3);
    CHECK_EQ_STR(s, "{\"type\":\"follow_up_questions\",\"questions\":[\"What is a ring?\","
                    "\"How fast is it?\",\"Why shared memory?\"]}");
    free(s);
}

static void test_skips_empty(void)
{
    const char *q[3] = {"", NULL, "Only this?"};
    char *s = apiv1_follow_up_questions(q, 3);
    CHECK_EQ_STR(s, "{\"type\":\"follow_up_questions\",\"questions\":[\"Only this?\"]}");
    free(s);
    const char *none[2] = {"", NULL};
    CHECK(apiv1_follow_up_questions(none, 2) == NULL);
    CHECK(apiv1_follow_up_questions(q, 0) == NULL);
}

static void test_escaping(void)
{
    const char *q[2] = {"Say \"hi\"\\now?\n\t\x01", "Grüße, 日本語 and 😀?"};
    char *s = apiv1_follow_up_questions(q, 2);
    CHECK_EQ_STR(s, "{\"type\":\"follow_up_questions\",\"questions\":["
                    "\"Say \\\"hi\\\"\\\\now?\\n\\t\\u0001\",\"Grüße, 日本語 and 😀?\"]}");
    json_t *v = s ? json_loads(s, 0, NULL) : NULL;
    json_t *arr = json_object_get(v, "questions");
    CHECK_EQ_INT(json_array_size(arr), 2);
    CHECK_EQ_STR(json_string_value(json_array_get(arr, 0)), q[0]);
    CHECK_EQ_STR(json_string_value(json_array_get(arr, 1)), q[1]);
    json_decref(v);
    free(s);
}

static void test_invalid_utf8_left_out(void)
{
    /* A question cut inside a character is not valid text: left out. */
    const char *q[2] = {"Cut \xc3", "Kept?"};
    char *s = apiv1_follow_up_questions(q, 2);
    CHECK_EQ_STR(s, "{\"type\":\"follow_up_questions\",\"questions\":[\"Kept?\"]}");
    free(s);
}

static void test_channel(void)
{
    CHECK_EQ_STR(APIV1_CHANNEL, "global");
    CHECK_EQ_INT(APIV1_CHANNEL_LEN, 6);
}

int main(void)
{
    RUN(test_shape);
    RUN(test_skips_empty);
    RUN(test_escaping);
    RUN(test_invalid_utf8_left_out);
    RUN(test_channel);
    return UNIT_SUMMARY();
}
