/* /ws/query (seed 004, SPEC S4.6): the {"type","request_id","data"}
 * envelope, validation of query/config/control, and the server's messages.
 * Pure functions (fuzzed by tests/fuzz/fuzz_protocol_msgs.c and, with the
 * encoders, tests/fuzz/fuzz_protocol_errors.c). */
#ifndef RAGWS_PROTOCOL_QUERY_H
#define RAGWS_PROTOCOL_QUERY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define QUERY_RID_MAX   128
#define QUERY_MAX_CHARS 8192

enum query_kind { QMSG_QUERY, QMSG_CONFIG, QMSG_CONTROL };

typedef struct query_msg {
    enum query_kind kind;
    char request_id[QUERY_RID_MAX + 1];
    /* query */
    const char *query; /* points into root */
    char collection[65];
    char mode[16];
    int stream;
    int max_results;
    int include_sources;
    /* config (has_* say which fields were given) */
    int has_response_format, has_language, has_temperature;
    char response_format[32];
    char language[16];
    double temperature;
    /* control */
    char action[8];
    json_t *root;
} query_msg_t;

/* Returns 0, or -1 with *code (INVALID_JSON, VALIDATION_ERROR,
 * UNKNOWN_TYPE) and err (valid UTF-8; quoted client text cut on a
 * character boundary); request_id is filled whenever it was readable, so
 * the error can name it (else it is "" and the error says null).
 * query_msg_free is due either way. */
int query_msg_parse(const char *data, size_t len, query_msg_t *m, const char **code, char *err,
                    size_t errlen);
void query_msg_free(query_msg_t *m);

/* POST /api/query: the body is the data object of a query message. */
int query_parse_data(const char *body, size_t len, query_msg_t *m, const char **code, char *err,
                     size_t errlen);

/* Encoders (caller frees): NULL when the message cannot be encoded (out of
 * memory); texts from outside are made valid UTF-8. query_error falls back
 * to a fixed INTERNAL_ERROR error and always carries "request_id" (null
 * when rid is NULL or ""). */
char *query_status(const char *rid, const char *stage, double progress, const char *message);
char *query_token(const char *rid, const char *content, size_t len, uint32_t position,
                  int is_complete);
char *query_citation(const char *rid, int citation_id, const char *source, int page,
                     double confidence, const char *content);
/* entities: n strings. answer: included when not NULL (stream = false). */
char *query_complete(const char *rid, double total_time, uint32_t tokens, uint32_t sources_used,
                     const char *mode, const char *intent, const char *const *entities,
                     size_t n_entities, const char *answer, int64_t conversation_id);
char *query_error(const char *rid, const char *code, const char *message, const char *stage,
                  int recoverable);
/* config_updated with the connection's settings. */
char *query_config_updated(const char *rid, const char *response_format, const char *language,
                           double temperature);

#endif
