/* protocol/openapi.c: the OpenAPI 3.1 generator on small route lists, the
 * component schemas, and the errors of a malformed description. */
#include "protocol/openapi.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"

static const openapi_param_t task_params[] = {
    {"path", "id", "integer", "the task"},
    {"query", "verbose", "boolean", "with the log « détaillé » 📜"},
    {NULL, NULL, NULL, NULL},
};
static const openapi_doc_t d_health = {"health", "operations", NULL, "200 Health", NULL};
static const openapi_doc_t d_task = {"cancelTask", "ingestion", NULL, "200 Task, 404, 409, 503",
                                     task_params};
static const openapi_doc_t d_query = {"query", "rag", "QueryRequest", "200 QueryResponse", NULL};
static const openapi_doc_t d_ws = {"wsTask", "websocket", NULL, "101", NULL};
static const openapi_doc_t d_admin = {"broadcast", "admin", "BroadcastRequest", "202 Published",
                                      NULL};
static const openapi_doc_t d_process = {"process", "conversation", "InputMessage",
                                        "200 OutputSuggestion, 422 HTTPValidationError", NULL};

static const openapi_route_t routes[] = {
    {"/health", {"get", "head"}, OPENAPI_HTTP, OPENAPI_AUTH_NONE, "liveness", &d_health},
    {"/api/tasks/{id}/cancel", {"post"}, OPENAPI_HTTP, OPENAPI_AUTH_TOKEN, "cancel", &d_task},
    {"/api/query", {"post"}, OPENAPI_HTTP, OPENAPI_AUTH_TOKEN, "ask", &d_query},
    {"/ws/task/{task_id}", {"get"}, OPENAPI_WS, OPENAPI_AUTH_TOKEN, "one task", &d_ws},
    {"/api/broadcast", {"post"}, OPENAPI_HTTP, OPENAPI_AUTH_ADMIN, "publish", &d_admin},
    {"/api/process", {"post"}, OPENAPI_HTTP, OPENAPI_AUTH_TOKEN, "suggest", &d_process},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

static json_t *generate(const openapi_route_t *r, size_t n, char *err, size_t errlen)
{
    char *s = openapi_document(r, n, "9.9", err, errlen);
    if (!s) return NULL;
    json_error_t je;
    json_t *doc = json_loads(s, 0, &je);
    free(s);
    return doc;
}

static json_t *op(json_t *doc, const char *path, const char *method)
{
    return json_object_get(json_object_get(json_object_get(doc, "paths"), path), method);
}

static int has_status(json_t *o, const char *status)
{
    return json_object_get(json_object_get(o, "responses"), status) != NULL;
}

static const char *ref_of(json_t *o, const char *status)
{
    json_t *r = json_object_get(json_object_get(o, "responses"), status);
    json_t *s = json_object_get(json_object_get(json_object_get(r, "content"), "application/json"),
                                "schema");
    return json_string_value(json_object_get(s, "$ref"));
}

static void test_document_shape(void)
{
    char err[256];
    json_t *doc = generate(routes, N_ROUTES, err, sizeof err);
    CHECK(doc != NULL);
    if (!doc) return;
    CHECK_EQ_STR(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(doc, "info"), "version")),
                 "9.9");
    CHECK(strstr(json_string_value(json_object_get(json_object_get(doc, "info"), "description")),
                 "OpenAPI has no WebSocket operations") != NULL);
    /* both methods, distinct operation ids */
    CHECK_EQ_STR(json_string_value(json_object_get(op(doc, "/health", "get"), "operationId")),
                 "health");
    CHECK_EQ_STR(json_string_value(json_object_get(op(doc, "/health", "head"), "operationId")),
                 "healthHead");
    CHECK_EQ_STR(ref_of(op(doc, "/health", "get"), "200"), "#/components/schemas/Health");
    /* the outbound webhooks, as 3.1 describes them */
    json_t *wh = json_object_get(json_object_get(doc, "webhooks"), "critical_objection");
    CHECK(json_object_get(wh, "post") != NULL);
    /* public GET: 405 only added, no 401, no 413 */
    CHECK(has_status(op(doc, "/health", "get"), "405"));
    CHECK(!has_status(op(doc, "/health", "get"), "401"));
    CHECK(!has_status(op(doc, "/health", "get"), "413"));
    json_decref(doc);
}

static void test_responses_and_params(void)
{
    char err[256];
    json_t *doc = generate(routes, N_ROUTES, err, sizeof err);
    CHECK(doc != NULL);
    if (!doc) return;
    json_t *c = op(doc, "/api/tasks/{id}/cancel", "post");
    const char *want[] = {"200", "400", "401", "404", "405", "409", "413", "503"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) CHECK(has_status(c, want[i]));
    CHECK_EQ_STR(ref_of(c, "200"), "#/components/schemas/Task");
    CHECK_EQ_STR(ref_of(c, "409"), "#/components/schemas/Error");
    json_t *ps = json_object_get(c, "parameters");
    CHECK_EQ_INT((int)json_array_size(ps), 2);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(ps, 0), "in")), "path");
    CHECK(json_is_true(json_object_get(json_array_get(ps, 0), "required")));
    CHECK_EQ_STR(json_string_value(
                     json_object_get(json_object_get(json_array_get(ps, 0), "schema"), "type")),
                 "integer");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(ps, 1), "description")),
                 "with the log « détaillé » 📜");
    /* seed 003: 422 is the HTTPValidationError, the body InputMessage */
    json_t *p = op(doc, "/api/process", "post");
    CHECK_EQ_STR(ref_of(p, "422"), "#/components/schemas/HTTPValidationError");
    json_t *rb = json_object_get(json_object_get(json_object_get(p, "requestBody"), "content"),
                                 "application/json");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(rb, "schema"), "$ref")),
                 "#/components/schemas/InputMessage");
    /* admin: 401 403 415 added, security names the admin token */
    json_t *a = op(doc, "/api/broadcast", "post");
    CHECK(has_status(a, "403") && has_status(a, "415") && has_status(a, "401"));
    CHECK(json_object_get(json_array_get(json_object_get(a, "security"), 0), "adminToken"));
    json_decref(doc);
}

static void test_websocket_route(void)
{
    char err[256];
    json_t *doc = generate(routes, N_ROUTES, err, sizeof err);
    CHECK(doc != NULL);
    if (!doc) return;
    json_t *w = op(doc, "/ws/task/{task_id}", "get");
    CHECK(has_status(w, "101") && has_status(w, "426"));
    CHECK(!json_object_get(json_object_get(json_object_get(w, "responses"), "101"), "content"));
    CHECK(strstr(json_string_value(json_object_get(w, "description")), "WebSocket") != NULL);
    /* path parameter declared although not listed, and ?token= */
    json_t *ps = json_object_get(w, "parameters");
    CHECK_EQ_INT((int)json_array_size(ps), 2);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(ps, 0), "name")), "task_id");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(ps, 1), "name")), "token");
    json_decref(doc);
}

/* Every $ref of the schemas names a schema that exists. */
static void check_refs(json_t *schemas, json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (strcmp(k, "$ref") == 0) {
                const char *r = json_string_value(x);
                const char *pre = "#/components/schemas/";
                CHECK(r && strncmp(r, pre, strlen(pre)) == 0 &&
                      json_object_get(schemas, r + strlen(pre)));
            } else {
                check_refs(schemas, x);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) check_refs(schemas, x);
    }
}

static void test_schemas(void)
{
    json_t *s = openapi_schemas();
    CHECK(s != NULL);
    const char *names[] = {"Error",
                           "InputMessage",
                           "OutputSuggestion",
                           "HTTPValidationError",
                           "ConversationBatch",
                           "BatchAnalysis",
                           "ConversationContext",
                           "ConversationSummaryResponse",
                           "WsStatus",
                           "TranscriptionResult",
                           "WebhookDeliveries",
                           "UploadAccepted",
                           "TaskList",
                           "Ready"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(json_object_get(s, names[i]) != NULL);
    json_t *sp = json_object_get(json_object_get(json_object_get(s, "InputMessage"), "properties"),
                                 "speaker");
    CHECK_EQ_INT((int)json_array_size(json_object_get(sp, "enum")), 2);
    check_refs(s, s);
    json_decref(s);
}

static void test_errors(void)
{
    char err[256];
    static const openapi_doc_t bad_schema = {"x", "t", NULL, "200 NoSuchSchema", NULL};
    static const openapi_doc_t bad_list = {"y", "t", NULL, "200 Health; 404", NULL};
    static const openapi_doc_t no_id = {NULL, "t", NULL, "200", NULL};
    openapi_route_t r = {"/x", {"get"}, OPENAPI_HTTP, OPENAPI_AUTH_NONE, "x", &bad_schema};
    CHECK(openapi_document(&r, 1, "1", err, sizeof err) == NULL);
    CHECK(strstr(err, "NoSuchSchema") != NULL);
    r.doc = &bad_list;
    CHECK(openapi_document(&r, 1, "1", err, sizeof err) == NULL);
    CHECK(strstr(err, "bad responses list") != NULL);
    r.doc = &no_id;
    CHECK(openapi_document(&r, 1, "1", err, sizeof err) == NULL);
    CHECK(strstr(err, "no operation id") != NULL);
    openapi_route_t two[] = {routes[0], routes[0]};
    two[1].pattern = "/other";
    CHECK(openapi_document(two, 2, "1", err, sizeof err) == NULL);
    CHECK(strstr(err, "duplicate operationId") != NULL);
}

int main(void)
{
    RUN(test_document_shape);
    RUN(test_responses_and_params);
    RUN(test_websocket_route);
    RUN(test_schemas);
    RUN(test_errors);
    return UNIT_SUMMARY();
}
