/* protocol/query.c: /ws/query messages (query, config, control), the
 * POST /api/query body, and the server's messages. */
#include "tests/unit/unit.h"
#include "tests/unit/protocol/json_check.h"
#include "protocol/json_msg.h"
#include "protocol/query.h"

#include <stdio.h>

typedef struct {
    int rc;
    const char *code;
    char err[256];
    query_msg_t m;
} parsed_t;

static void parse(const char *s, parsed_t *p)
{
    p->code = NULL;
    p->err[0] = '\0';
    p->rc = query_msg_parse(s, strlen(s), &p->m, &p->code, p->err, sizeof p->err);
    CHECK(utf8_valid(p->err, strlen(p->err), NULL)); /* every error text is UTF-8 */
}

/* rc -1 with this code and an err holding want; frees the message. */
static void expect_error(const char *s, const char *code, const char *want)
{
    parsed_t p;
    parse(s, &p);
    CHECK_EQ_INT(p.rc, -1);
    CHECK_EQ_STR(p.code, code);
    if (!has(p.err, want)) fprintf(stderr, "  err was: %s (for %s)\n", p.err, s);
    CHECK(has(p.err, want));
    query_msg_free(&p.m);
}

static void test_query_defaults(void)
{
    parsed_t p;
    parse("{\"type\":\"query\",\"request_id\":\"r1\",\"data\":{\"query\":\"" T_FR " " T_EMOJI
          "\"}}",
          &p);
    CHECK_EQ_INT(p.rc, 0);
    CHECK_EQ_INT(p.m.kind, QMSG_QUERY);
    CHECK_EQ_STR(p.m.request_id, "r1");
    CHECK_EQ_STR(p.m.query, T_FR " " T_EMOJI);
    CHECK_EQ_STR(p.m.collection, "");
    CHECK_EQ_STR(p.m.mode, "balanced");
    CHECK_EQ_INT(p.m.stream, 1);
    CHECK_EQ_INT(p.m.max_results, 10);
    CHECK_EQ_INT(p.m.include_sources, 1);
    query_msg_free(&p.m);
    CHECK(p.m.root == NULL);
}

static void test_query_fields(void)
{
    parsed_t p;
    parse("{\"type\":\"query\",\"request_id\":\"" T_EMOJI "\",\"data\":{\"query\":\"a \\\"b\\\" "
          "\\\\ c\\n\",\"collection_name\":\"docs_v1.2-x\",\"mode\":\"comprehensive\","
          "\"stream\":false,\"max_results\":50,\"include_sources\":false}}",
          &p);
    CHECK_EQ_INT(p.rc, 0);
    CHECK_EQ_STR(p.m.request_id, T_EMOJI);
    CHECK_EQ_STR(p.m.query, "a \"b\" \\ c\n");
    CHECK_EQ_STR(p.m.collection, "docs_v1.2-x");
    CHECK_EQ_STR(p.m.mode, "comprehensive");
    CHECK_EQ_INT(p.m.stream, 0);
    CHECK_EQ_INT(p.m.max_results, 50);
    CHECK_EQ_INT(p.m.include_sources, 0);
    query_msg_free(&p.m);
    /* null means "not given". */
    parse("{\"type\":\"query\",\"request_id\":\"r\",\"data\":{\"query\":\"q\",\"collection_name\":"
          "null,\"mode\":null,\"stream\":null,\"max_results\":null,\"include_sources\":null}}",
          &p);
    CHECK_EQ_INT(p.rc, 0);
    CHECK_EQ_STR(p.m.mode, "balanced");
    CHECK_EQ_INT(p.m.max_results, 10);
    query_msg_free(&p.m);
}

static void test_config_and_control(void)
{
    parsed_t p;
    parse("{\"type\":\"config\",\"request_id\":\"c\",\"data\":{\"response_format\":"
          "\"with_citations\",\"language\":\"fr\",\"temperature\":0.2}}",
          &p);
    CHECK_EQ_INT(p.rc, 0);
    CHECK_EQ_INT(p.m.kind, QMSG_CONFIG);
    CHECK(p.m.has_response_format && p.m.has_language && p.m.has_temperature);
    CHECK_EQ_STR(p.m.response_format, "with_citations");
    CHECK_EQ_STR(p.m.language, "fr");
    CHECK(p.m.temperature == 0.2);
    query_msg_free(&p.m);
    parse("{\"type\":\"config\",\"request_id\":\"c\",\"data\":{\"temperature\":2}}", &p);
    CHECK_EQ_INT(p.rc, 0);
    CHECK(!p.m.has_response_format && !p.m.has_language && p.m.has_temperature);
    query_msg_free(&p.m);
    static const char *const actions[] = {"pause", "resume", "cancel"};
    for (int i = 0; i < 3; i++) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "{\"type\":\"control\",\"request_id\":\"k\",\"data\":{\"action\":\"%s\"}}",
                 actions[i]);
        parse(msg, &p);
        CHECK_EQ_INT(p.rc, 0);
        CHECK_EQ_INT(p.m.kind, QMSG_CONTROL);
        CHECK_EQ_STR(p.m.action, actions[i]);
        query_msg_free(&p.m);
    }
}

static void test_envelope_errors(void)
{
    expect_error("{\"type\":", ERR_INVALID_JSON, "invalid JSON at line 1");
    expect_error("[\"query\"]", ERR_VALIDATION, "message must be a JSON object");
    expect_error("{\"request_id\":\"r\"}", ERR_VALIDATION, "field \"type\" is required");
    expect_error("{\"type\":1}", ERR_VALIDATION, "field \"type\" must be a string");
    expect_error("{\"type\":\"upload\",\"request_id\":\"r\"}", ERR_UNKNOWN_TYPE,
                 "unknown message type \"upload\" (query, config or control)");
    expect_error("{\"type\":\"query\",\"data\":{\"query\":\"q\"}}", ERR_VALIDATION,
                 "request_id (non-empty string) is required");
    expect_error("{\"type\":\"query\",\"request_id\":\"\",\"data\":{}}", ERR_VALIDATION,
                 "request_id (non-empty string) is required");
    expect_error("{\"type\":\"query\",\"request_id\":7,\"data\":{}}", ERR_VALIDATION,
                 "request_id (non-empty string) is required");
    char rid[QUERY_RID_MAX + 2];
    memset(rid, 'r', sizeof rid - 1);
    rid[sizeof rid - 1] = '\0';
    char msg[512];
    snprintf(msg, sizeof msg, "{\"type\":\"query\",\"request_id\":\"%s\",\"data\":{}}", rid);
    expect_error(msg, ERR_VALIDATION, "request_id is longer than 128 characters");
    expect_error("{\"type\":\"query\",\"request_id\":\"r\"}", ERR_VALIDATION,
                 "data (object) is required");
    expect_error("{\"type\":\"query\",\"request_id\":\"r\",\"data\":[]}", ERR_VALIDATION,
                 "data (object) is required");
}

static void test_request_id_kept_on_error(void)
{
    parsed_t p;
    parse("{\"type\":\"query\",\"request_id\":\"r-" T_FR "\",\"data\":{}}", &p);
    CHECK_EQ_INT(p.rc, -1);
    CHECK_EQ_STR(p.m.request_id, "r-" T_FR); /* the error can name it */
    query_msg_free(&p.m);
    parse("{\"type\":\"nope\",\"request_id\":\"r9\"}", &p);
    CHECK_EQ_STR(p.m.request_id, "r9");
    query_msg_free(&p.m);
    parse("{\"type\":\"query\",\"request_id\":\"a\\u0000b\",\"data\":{}}", &p);
    CHECK_EQ_STR(p.code, ERR_INVALID_JSON); /* a NUL inside: not JSON for us */
    CHECK_EQ_STR(p.m.request_id, "");
    query_msg_free(&p.m);
}

static void test_unknown_type_quote_is_cut_on_a_character(void)
{
    char msg[1024] = "{\"type\":\"";
    for (int i = 0; i < 40; i++) strcat(msg, "🚀");
    strcat(msg, "\"}");
    parsed_t p;
    parse(msg, &p);
    CHECK_EQ_STR(p.code, ERR_UNKNOWN_TYPE);
    /* QUOTE_MAX (64) bytes: 16 whole rockets, never a cut one. */
    char want[128] = "\"";
    for (int i = 0; i < 16; i++) strcat(want, "🚀");
    strcat(want, "\" (query");
    CHECK(has(p.err, want));
    query_msg_free(&p.m);
}

static void test_query_field_errors(void)
{
#define Q(data) "{\"type\":\"query\",\"request_id\":\"r\",\"data\":" data "}"
    expect_error(Q("{}"), ERR_VALIDATION, "data.query (string) is required");
    expect_error(Q("{\"query\":5}"), ERR_VALIDATION, "data.query (string) is required");
    expect_error(Q("{\"query\":\"\"}"), ERR_VALIDATION, "data.query must not be empty");
    /* jansson refuses \u0000 in a string (no JSON_ALLOW_NUL): a NUL never
     * reaches the checks, the message is not JSON. */
    expect_error(Q("{\"query\":\"a\\u0000b\"}"), ERR_INVALID_JSON, "is not allowed");
    expect_error(Q("{\"query\":\"q\",\"collection_name\":\"a b\"}"), ERR_VALIDATION,
                 "data.collection_name: 1 to 64 characters");
    expect_error(Q("{\"query\":\"q\",\"collection_name\":\"café\"}"), ERR_VALIDATION,
                 "data.collection_name");
    expect_error(Q("{\"query\":\"q\",\"collection_name\":\"\"}"), ERR_VALIDATION,
                 "data.collection_name");
    expect_error(Q("{\"query\":\"q\",\"collection_name\":3}"), ERR_VALIDATION,
                 "data.collection_name");
    expect_error(Q("{\"query\":\"q\",\"mode\":\"slow\"}"), ERR_VALIDATION,
                 "data.mode must be \"fast\", \"balanced\" or \"comprehensive\"");
    expect_error(Q("{\"query\":\"q\",\"mode\":1}"), ERR_VALIDATION, "data.mode must be");
    expect_error(Q("{\"query\":\"q\",\"stream\":\"yes\"}"), ERR_VALIDATION,
                 "data.stream must be true or false");
    expect_error(Q("{\"query\":\"q\",\"max_results\":0}"), ERR_VALIDATION,
                 "data.max_results must be an integer from 1 to 50");
    expect_error(Q("{\"query\":\"q\",\"max_results\":51}"), ERR_VALIDATION, "data.max_results");
    expect_error(Q("{\"query\":\"q\",\"max_results\":2.5}"), ERR_VALIDATION, "data.max_results");
    expect_error(Q("{\"query\":\"q\",\"max_results\":\"3\"}"), ERR_VALIDATION, "data.max_results");
    expect_error(Q("{\"query\":\"q\",\"include_sources\":1}"), ERR_VALIDATION,
                 "data.include_sources must be true or false");
#undef Q
    /* QUERY_MAX_CHARS bytes pass, one more does not (é is two bytes). */
    static char msg[2 * QUERY_MAX_CHARS + 256];
    for (int over = 0; over <= 1; over++) {
        int n = snprintf(msg, sizeof msg,
                         "{\"type\":\"query\",\"request_id\":\"r\",\"data\":"
                         "{\"query\":\"");
        for (int i = 0; i < QUERY_MAX_CHARS / 2; i++) n += snprintf(msg + n, sizeof msg - n, "é");
        snprintf(msg + n, sizeof msg - n, "%s\"}}", over ? "x" : "");
        parsed_t p;
        parse(msg, &p);
        CHECK_EQ_INT(p.rc, over ? -1 : 0);
        if (over) CHECK(has(p.err, "data.query is longer than 8192 bytes"));
        query_msg_free(&p.m);
    }
}

static void test_config_control_errors(void)
{
#define C(data) "{\"type\":\"config\",\"request_id\":\"r\",\"data\":" data "}"
    expect_error(C("{}"), ERR_VALIDATION, "data must set response_format, language or temperature");
    expect_error(C("{\"response_format\":\"\"}"), ERR_VALIDATION, "data.response_format must be");
    expect_error(C("{\"response_format\":\"0123456789012345678901234567890123\"}"), ERR_VALIDATION,
                 "data.response_format must be a short string");
    expect_error(C("{\"response_format\":1}"), ERR_VALIDATION, "data.response_format");
    expect_error(C("{\"language\":\"\"}"), ERR_VALIDATION,
                 "data.language must be a language code such as \"en\"");
    expect_error(C("{\"language\":\"français-de-belgique\"}"), ERR_VALIDATION, "data.language");
    expect_error(C("{\"temperature\":-0.1}"), ERR_VALIDATION,
                 "data.temperature must be a number from 0 to 2");
    expect_error(C("{\"temperature\":2.01}"), ERR_VALIDATION, "data.temperature");
    expect_error(C("{\"temperature\":\"1\"}"), ERR_VALIDATION, "data.temperature");
#undef C
    expect_error("{\"type\":\"control\",\"request_id\":\"r\",\"data\":{\"action\":\"stop\"}}",
                 ERR_VALIDATION, "data.action must be \"pause\", \"resume\" or \"cancel\"");
    expect_error("{\"type\":\"control\",\"request_id\":\"r\",\"data\":{}}", ERR_VALIDATION,
                 "data.action must be");
}

static void test_parse_data(void)
{
    const char *code = NULL;
    char err[256];
    query_msg_t m;
    const char body[] = "{\"query\":\"" T_EMOJI "\",\"mode\":\"fast\",\"max_results\":3}";
    CHECK_EQ_INT(query_parse_data(body, strlen(body), &m, &code, err, sizeof err), 0);
    CHECK_EQ_INT(m.kind, QMSG_QUERY);
    CHECK_EQ_STR(m.query, T_EMOJI);
    CHECK_EQ_STR(m.mode, "fast");
    CHECK_EQ_INT(m.max_results, 3);
    CHECK_EQ_STR(m.request_id, "");
    query_msg_free(&m);
    CHECK_EQ_INT(query_parse_data("{", 1, &m, &code, err, sizeof err), -1);
    CHECK_EQ_STR(code, ERR_INVALID_JSON);
    query_msg_free(&m);
    CHECK_EQ_INT(query_parse_data("[]", 2, &m, &code, err, sizeof err), -1);
    CHECK_EQ_STR(code, ERR_VALIDATION);
    query_msg_free(&m);
    CHECK_EQ_INT(query_parse_data("{\"query\":\"\"}", 12, &m, &code, err, sizeof err), -1);
    CHECK_EQ_STR(code, ERR_VALIDATION);
    CHECK_EQ_STR(err, "data.query must not be empty");
    query_msg_free(&m);
}

static void test_encoders_shape(void)
{
    char *s = query_status("r1", "retrieval", 0.25, "Recherche…");
    CHECK_EQ_STR(s, "{\"type\":\"status\",\"request_id\":\"r1\",\"data\":{\"stage\":\"retrieval\","
                    "\"progress\":0.25,\"message\":\"Recherche…\"}}");
    free(s);
    s = query_token("r1", "Bonjour 🚀 la suite", strlen("Bonjour 🚀"), 3, 0);
    CHECK_EQ_STR(s, "{\"type\":\"token\",\"request_id\":\"r1\",\"data\":{\"content\":\"Bonjour 🚀\","
                    "\"position\":3,\"is_complete\":false}}");
    free(s);
    s = query_citation("r1", 2, "é.md", 4, 0.5, "extrait");
    CHECK_EQ_STR(s, "{\"type\":\"citation\",\"request_id\":\"r1\",\"data\":{\"citation_id\":2,"
                    "\"source\":\"é.md\",\"confidence\":0.5,\"content\":\"extrait\",\"page\":4}}");
    free(s);
    s = query_citation("r1", 1, "a.txt", 0, 1, "c");
    json_t *v = jparse(s);
    CHECK(json_is_null(jget(v, "data.page"))); /* no page */
    json_decref(v);
    free(s);
    const char *const ents[] = {"Élise", "🚀"};
    s = query_complete("r1", 1.5, 12, 2, "fast", "question", ents, 2, NULL, 0);
    CHECK_EQ_STR(s,
                 "{\"type\":\"complete\",\"request_id\":\"r1\",\"data\":{\"total_time\":1.5,"
                 "\"tokens_generated\":12,\"sources_used\":2,\"processing_mode\":\"fast\","
                 "\"query_analysis\":{\"intent\":\"question\",\"entities\":[\"Élise\",\"🚀\"]}}}");
    free(s);
    s = query_complete("r1", 0, 0, 0, "balanced", "other", NULL, 0, "la réponse", 42);
    v = jparse(s);
    CHECK_EQ_STR(jstr(v, "data.answer"), "la réponse");
    CHECK_EQ_INT(jint(v, "data.conversation_id"), 42);
    CHECK_EQ_INT(jsize(v, "data.query_analysis.entities"), 0);
    json_decref(v);
    free(s);
    s = query_config_updated("r1", "with_citations", "fr", 0.7);
    CHECK_EQ_STR(s, "{\"type\":\"config_updated\",\"request_id\":\"r1\",\"data\":{"
                    "\"response_format\":\"with_citations\",\"language\":\"fr\","
                    "\"temperature\":0.7}}");
    free(s);
    s = query_config_updated("r1", "plain", "en", -1);
    CHECK(has(s, "\"temperature\":null"));
    free(s);
}

static void test_encoders_escape(void)
{
    char *s = query_token(T_TRICKY, T_TRICKY, strlen(T_TRICKY), 0, 1);
    CHECK(has(s, "\"request_id\":" T_TRICKY_JSON ","));
    CHECK(has(s, "\"content\":" T_TRICKY_JSON ","));
    CHECK(jwire_ok(s));
    free(s);
    /* A token cut inside a character (LLM bytes) still goes out as UTF-8. */
    s = query_token("r", "🚀", 2, 0, 0);
    CHECK(has(s, "\"content\":\"??\""));
    CHECK(jwire_ok(s));
    free(s);
    s = query_status("r", "generation", 1, T_BAD);
    CHECK(has(s, "\"message\":" T_BAD_JSON));
    free(s);
    s = query_citation("r", 1, T_TRICKY, 1, 0.5, T_FR " " T_EMOJI);
    json_t *v = jparse(s);
    CHECK_EQ_STR(jstr(v, "data.source"), T_TRICKY);
    CHECK_EQ_STR(jstr(v, "data.content"), T_FR " " T_EMOJI);
    json_decref(v);
    free(s);
    const char *const ents[] = {T_TRICKY, T_BAD};
    s = query_complete("r", 1, 1, 1, "fast", T_FR, ents, 2, T_EMOJI, 0);
    CHECK(has(s, "\"entities\":[" T_TRICKY_JSON "," T_BAD_JSON "]"));
    CHECK(jwire_ok(s));
    free(s);
}

static void test_error_encoder(void)
{
    char *s = query_error("r1", ERR_VALIDATION, "data.query is required", NULL, 1);
    CHECK_EQ_STR(s, "{\"type\":\"error\",\"request_id\":\"r1\",\"data\":{\"code\":"
                    "\"VALIDATION_ERROR\",\"message\":\"data.query is required\","
                    "\"recoverable\":true}}");
    free(s);
    /* "" and NULL: the request is unknown, request_id is null. */
    s = query_error("", ERR_INVALID_JSON, "x", NULL, 1);
    CHECK(has(s, "\"request_id\":null"));
    free(s);
    s = query_error(NULL, ERR_INVALID_JSON, "x", NULL, 1);
    CHECK(has(s, "\"request_id\":null"));
    free(s);
    s = query_error("r", "STORAGE_UNAVAILABLE", T_TRICKY, "retrieval", 0);
    json_t *v = jparse(s);
    CHECK_EQ_STR(jstr(v, "data.details.stage"), "retrieval");
    CHECK_EQ_STR(jstr(v, "data.message"), T_TRICKY);
    CHECK(json_is_false(jget(v, "data.recoverable")));
    json_decref(v);
    free(s);
}

int main(void)
{
    RUN(test_query_defaults);
    RUN(test_query_fields);
    RUN(test_config_and_control);
    RUN(test_envelope_errors);
    RUN(test_request_id_kept_on_error);
    RUN(test_unknown_type_quote_is_cut_on_a_character);
    RUN(test_query_field_errors);
    RUN(test_config_control_errors);
    RUN(test_parse_data);
    RUN(test_encoders_shape);
    RUN(test_encoders_escape);
    RUN(test_error_encoder);
    return UNIT_SUMMARY();
}
