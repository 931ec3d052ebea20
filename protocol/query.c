#include "protocol/query.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "protocol/envelope.h"
#include "protocol/json_msg.h"

#define BAD(...)                                                                                   \
    do {                                                                                           \
        *code = ERR_VALIDATION;                                                                    \
        utf8_snprintf(err, errlen, __VA_ARGS__);                                                   \
        return -1;                                                                                 \
    } while (0)

static int collection_ok(const char *s, size_t len) { return name_valid(s, len, 64, "_-."); }

static int parse_query(json_t *data, query_msg_t *m, const char **code, char *err, size_t errlen)
{
    json_t *q = json_object_get(data, "query");
    if (!json_is_string(q)) BAD("data.query (string) is required");
    size_t qlen = json_string_length(q);
    if (!qlen) BAD("data.query must not be empty");
    if (qlen > QUERY_MAX_CHARS) BAD("data.query is longer than %d bytes", QUERY_MAX_CHARS);
    if (strlen(json_string_value(q)) != qlen) BAD("data.query must not contain NUL");
    m->query = json_string_value(q);

    json_t *c = json_object_get(data, "collection_name");
    if (c && !json_is_null(c)) {
        if (!json_is_string(c) || !collection_ok(json_string_value(c), json_string_length(c)))
            BAD("data.collection_name: 1 to 64 characters of A-Z a-z 0-9 _ - .");
        memcpy(m->collection, json_string_value(c), json_string_length(c) + 1);
    }
    json_t *mo = json_object_get(data, "mode");
    snprintf(m->mode, sizeof m->mode, "balanced");
    if (mo && !json_is_null(mo)) {
        const char *v = json_string_value(mo);
        if (!v || (strcmp(v, "fast") && strcmp(v, "balanced") && strcmp(v, "comprehensive")))
            BAD("data.mode must be \"fast\", \"balanced\" or \"comprehensive\"");
        snprintf(m->mode, sizeof m->mode, "%s", v);
    }
    json_t *s = json_object_get(data, "stream");
    m->stream = 1;
    if (s && !json_is_null(s)) {
        if (!json_is_boolean(s)) BAD("data.stream must be true or false");
        m->stream = json_is_true(s);
    }
    json_t *mr = json_object_get(data, "max_results");
    m->max_results = 10;
    if (mr && !json_is_null(mr)) {
        if (!json_is_integer(mr) || json_integer_value(mr) < 1 || json_integer_value(mr) > 50)
            BAD("data.max_results must be an integer from 1 to 50");
        m->max_results = (int)json_integer_value(mr);
    }
    json_t *is = json_object_get(data, "include_sources");
    m->include_sources = 1;
    if (is && !json_is_null(is)) {
        if (!json_is_boolean(is)) BAD("data.include_sources must be true or false");
        m->include_sources = json_is_true(is);
    }
    return 0;
}

static int parse_config(json_t *data, query_msg_t *m, const char **code, char *err, size_t errlen)
{
    json_t *rf = json_object_get(data, "response_format");
    if (rf) {
        if (!json_is_string(rf) || json_string_length(rf) >= sizeof m->response_format ||
            !json_string_length(rf))
            BAD("data.response_format must be a short string (e.g. \"with_citations\")");
        m->has_response_format = 1;
        snprintf(m->response_format, sizeof m->response_format, "%s", json_string_value(rf));
    }
    json_t *lang = json_object_get(data, "language");
    if (lang) {
        if (!json_is_string(lang) || !json_string_length(lang) ||
            json_string_length(lang) >= sizeof m->language)
            BAD("data.language must be a language code such as \"en\"");
        m->has_language = 1;
        snprintf(m->language, sizeof m->language, "%s", json_string_value(lang));
    }
    json_t *t = json_object_get(data, "temperature");
    if (t) {
        if (!json_is_number(t) || json_number_value(t) < 0 || json_number_value(t) > 2 ||
            isnan(json_number_value(t)))
            BAD("data.temperature must be a number from 0 to 2");
        m->has_temperature = 1;
        m->temperature = json_number_value(t);
    }
    if (!rf && !lang && !t) BAD("data must set response_format, language or temperature");
    return 0;
}

int query_msg_parse(const char *data, size_t len, query_msg_t *m, const char **code, char *err,
                    size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->root = json_msg_parse(data, len, code, err, errlen);
    if (!m->root) return -1;
    json_t *rid = json_object_get(m->root, "request_id");
    if (json_is_string(rid) && json_string_length(rid) <= QUERY_RID_MAX &&
        strlen(json_string_value(rid)) == json_string_length(rid))
        memcpy(m->request_id, json_string_value(rid), json_string_length(rid) + 1);
    const char *type = json_msg_type(m->root, err, errlen);
    if (!type) {
        *code = ERR_VALIDATION;
        return -1;
    }
    if (strcmp(type, "query") == 0)
        m->kind = QMSG_QUERY;
    else if (strcmp(type, "config") == 0)
        m->kind = QMSG_CONFIG;
    else if (strcmp(type, "control") == 0)
        m->kind = QMSG_CONTROL;
    else {
        *code = ERR_UNKNOWN_TYPE;
        utf8_snprintf(err, errlen, "unknown message type \"%.*s\" (query, config or control)",
                      QUOTE(type));
        return -1;
    }
    if (!json_is_string(rid) || !json_string_length(rid))
        BAD("request_id (non-empty string) is required");
    if (!m->request_id[0]) BAD("request_id is longer than %d characters", QUERY_RID_MAX);
    json_t *d = json_object_get(m->root, "data");
    if (!json_is_object(d)) BAD("data (object) is required");
    switch (m->kind) {
    case QMSG_QUERY: return parse_query(d, m, code, err, errlen);
    case QMSG_CONFIG: return parse_config(d, m, code, err, errlen);
    case QMSG_CONTROL: {
        const char *a = json_string_value(json_object_get(d, "action"));
        if (!a || (strcmp(a, "pause") && strcmp(a, "resume") && strcmp(a, "cancel")))
            BAD("data.action must be \"pause\", \"resume\" or \"cancel\"");
        snprintf(m->action, sizeof m->action, "%s", a);
        return 0;
    }
    }
    return 0;
}

int query_parse_data(const char *body, size_t len, query_msg_t *m, const char **code, char *err,
                     size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->kind = QMSG_QUERY;
    m->root = json_msg_parse(body, len, code, err, errlen);
    if (!m->root) return -1;
    return parse_query(m->root, m, code, err, errlen);
}

void query_msg_free(query_msg_t *m)
{
    json_decref(m->root);
    m->root = NULL;
}

char *query_status(const char *rid, const char *stage, double progress, const char *message)
{
    return envelope_encode("status", rid,
                           json_pack("{s:s, s:f, s:o}", "stage", stage, "progress", progress,
                                     "message", json_msg_text(message)));
}

char *query_token(const char *rid, const char *content, size_t len, uint32_t position,
                  int is_complete)
{
    return envelope_encode("token", rid,
                           json_pack("{s:o, s:I, s:b}", "content", json_msg_textn(content, len),
                                     "position", (json_int_t)position, "is_complete", is_complete));
}

char *query_citation(const char *rid, int citation_id, const char *source, int page,
                     double confidence, const char *content)
{
    return envelope_encode("citation", rid,
                           json_pack("{s:i, s:o, s:f, s:o, s:o}", "citation_id", citation_id,
                                     "source", json_msg_text(source), "confidence", confidence,
                                     "content", json_msg_text(content), "page",
                                     page > 0 ? json_integer(page) : json_null()));
}

char *query_complete(const char *rid, double total_time, uint32_t tokens, uint32_t sources_used,
                     const char *mode, const char *intent, const char *const *entities,
                     size_t n_entities, const char *answer, int64_t conversation_id)
{
    json_t *ents = json_array();
    for (size_t i = 0; i < n_entities; i++) json_array_append_new(ents, json_msg_text(entities[i]));
    json_t *d = json_pack("{s:f, s:i, s:i, s:s, s:{s:o, s:o}}", "total_time", total_time,
                          "tokens_generated", (int)tokens, "sources_used", (int)sources_used,
                          "processing_mode", mode, "query_analysis", "intent",
                          json_msg_text(intent), "entities", ents);
    if (d && answer) json_object_set_new(d, "answer", json_msg_text(answer));
    if (d && conversation_id)
        json_object_set_new(d, "conversation_id", json_integer(conversation_id));
    return envelope_encode("complete", rid, d);
}

char *query_error(const char *rid, const char *code, const char *message, const char *stage,
                  int recoverable)
{
    return envelope_error(rid && rid[0] ? rid : NULL, code, message, stage, recoverable);
}

char *query_config_updated(const char *rid, const char *response_format, const char *language,
                           double temperature)
{
    return envelope_encode("config_updated", rid,
                           json_pack("{s:o, s:o, s:o}", "response_format",
                                     json_msg_text(response_format), "language",
                                     json_msg_text(language), "temperature",
                                     temperature < 0 ? json_null() : json_real(temperature)));
}
