/* Unit tests for protocol/conversation*.c: InputMessage validation as
 * FastAPI reports it, the batch, the model's answer, the encoders. */
#include "tests/unit/unit.h"
#include "protocol/conversation.h"

#include <stdlib.h>

static int parse(const char *s, conv_input_t *in, conv_errs_t *e)
{
    return conv_input_parse(s, strlen(s), in, e);
}

static void test_input_ok_and_defaults(void)
{
    conv_input_t in;
    conv_errs_t e;
    CHECK_EQ_INT(parse("{\"text\":\"Ça coûte cher 😕\",\"speaker\":\"client\"}", &in, &e), 0);
    CHECK_EQ_STR(in.text, "Ça coûte cher 😕");
    CHECK_EQ_STR(in.sentiment, "neutral");
    CHECK_EQ_INT(in.stream, -1);
    conv_input_free(&in);
    CHECK_EQ_INT(parse("{\"text\":\"x\",\"speaker\":\"agent\",\"sentiment\":\"positive\","
                       "\"emotion\":\"joy\",\"stream\":true}",
                       &in, &e),
                 0);
    CHECK_EQ_INT(in.stream, 1);
    CHECK_EQ_STR(in.emotion, "joy");
    conv_input_free(&in);
}

static void test_input_errors_and_422(void)
{
    conv_input_t in;
    conv_errs_t e;
    CHECK_EQ_INT(parse("{\"text\":5,\"speaker\":\"robot\",\"stream\":\"yes\"}", &in, &e), -1);
    CHECK_EQ_INT(e.n, 3);
    char *j = conv_422(&e);
    CHECK_EQ_STR(j, "{\"detail\":[{\"type\":\"string_type\",\"loc\":[\"body\",\"text\"],\"msg\":"
                    "\"Input should be a valid string\"},{\"type\":\"literal_error\",\"loc\":["
                    "\"body\",\"speaker\"],\"msg\":\"Input should be 'client' or 'agent'\"},{"
                    "\"type\":\"bool_type\",\"loc\":[\"body\",\"stream\"],\"msg\":\"Input should "
                    "be a valid boolean\"}]}");
    free(j);
    char txt[512];
    conv_errs_text(&e, txt, sizeof txt);
    CHECK(strncmp(txt,
                  "3 validation errors for InputMessage\ntext\n  Input should be a valid "
                  "string [type=string_type]",
                  80) == 0);
    CHECK_EQ_INT(parse("[1", &in, &e), -1);
    CHECK_EQ_STR(e.e[0].type, "json_invalid");
    CHECK(e.json_error[0] != 0);
    CHECK_EQ_INT(parse("{\"text\":\"\",\"speaker\":\"client\"}", &in, &e), -1);
    CHECK_EQ_STR(e.e[0].type, "string_too_short");
    CHECK_EQ_INT(conv_control_type("{\"type\":\"ping\"}", 15), 1);
    CHECK_EQ_INT(conv_control_type("{\"type\":\"pong\"}", 15), 2);
    CHECK_EQ_INT(conv_control_type("{\"type\":\"ping\",\"text\":\"a\"}", 26), 0);
    CHECK(conv_session_valid("call-12345", 10));
    CHECK(!conv_session_valid("call 1", 6));
    CHECK(!conv_session_valid("", 0));
}

static void test_batch(void)
{
    const char *b = "{\"messages\":[{\"text\":\"a\",\"speaker\":\"client\"},{\"text\":\"b\"}]}";
    conv_input_t *ins;
    size_t n;
    char *cid;
    conv_errs_t e;
    CHECK_EQ_INT(conv_batch_parse(b, strlen(b), 10, &ins, &n, &cid, &e), -1);
    CHECK_EQ_INT(e.n, 1);
    char *j = conv_422(&e);
    CHECK(strstr(j, "\"loc\":[\"body\",\"messages\",1,\"speaker\"]") != NULL);
    free(j);
    b = "{\"messages\":[{\"text\":\"a\",\"speaker\":\"client\"}],\"conversation_id\":\"c1\"}";
    CHECK_EQ_INT(conv_batch_parse(b, strlen(b), 10, &ins, &n, &cid, &e), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_STR(cid, "c1");
    conv_input_free(&ins[0]);
    free(ins);
    free(cid);
    CHECK_EQ_INT(conv_batch_parse(b, strlen(b), 0, &ins, &n, &cid, &e), -1);
    CHECK_EQ_STR(e.e[0].type, "too_long");
}

static void test_llm_answer(void)
{
    conv_suggestion_t s;
    CHECK_EQ_INT(conv_suggestion_from_llm("```json\n{\"questions\":[\"Pourquoi ?\"],"
                                          "\"signals_detected\":[\"urgency\"],"
                                          "\"recommended_direction\":\"Agir vite.\"}\n```",
                                          &s),
                 0);
    CHECK_EQ_STR(s.questions[0], "Pourquoi ?");
    CHECK_EQ_STR(s.direction, "Agir vite.");
    CHECK_EQ_INT(conv_suggestion_from_llm("Hello, world!", &s), -1);
    CHECK_EQ_INT(conv_suggestion_from_llm("{\"questions\":[],\"signals_detected\":[],"
                                          "\"recommended_direction\":\"x\"}",
                                          &s),
                 -1);
    CHECK_EQ_INT(conv_suggestion_from_llm("{\"questions\":[1],\"signals_detected\":[],"
                                          "\"recommended_direction\":\"x\"}",
                                          &s),
                 -1);
    char *j = conv_suggestion_encode(&(conv_suggestion_t){0});
    CHECK_EQ_STR(j, "{\"questions\":[],\"signals_detected\":[],\"recommended_direction\":\"\"}");
    free(j);
}

static void test_views(void)
{
    conv_turn_t t[] = {{"client", "negative", "uncertain", "Je ne sais pas…"},
                       {"agent", "positive", "neutral", "Je vous explique."}};
    char *j = conv_context(t, 2);
    CHECK_EQ_STR(j, "{\"context\":\"[CLIENT] (sentiment: negative, emotion: uncertain): Je ne sais "
                    "pas…\\n[AGENT] (sentiment: positive, emotion: neutral): Je vous explique.\","
                    "\"summary\":{\"total_messages\":2,\"client_messages\":1,\"agent_messages\":1,"
                    "\"sentiments\":{\"negative\":1,\"positive\":1},\"emotions\":{\"uncertain\":1,"
                    "\"neutral\":1}}}");
    free(j);
    j = conv_summary(t, 0);
    CHECK_EQ_STR(j, "{\"summary\":{\"total_messages\":0,\"client_messages\":0,\"agent_messages\":"
                    "0,\"sentiments\":{},\"emotions\":{}},\"last_speaker\":null,\"last_emotion\":"
                    "null,\"last_sentiment\":null}");
    free(j);
    CHECK_EQ_STR(conv_overall_sentiment(t, 2), "mixed");
    j = conv_token("Bon", "Bonjour Bon");
    CHECK_EQ_STR(j, "{\"type\":\"token\",\"content\":\"Bon\",\"full_text\":\"Bonjour Bon\"}");
    free(j);
}

int main(void)
{
    RUN(test_input_ok_and_defaults);
    RUN(test_input_errors_and_422);
    RUN(test_batch);
    RUN(test_llm_answer);
    RUN(test_views);
    return UNIT_SUMMARY();
}
