/* OpenAPI 3.1 generator; see openapi.h. */
#include "protocol/openapi.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/json_msg.h"

static const char DESCRIPTION[] =
    "The REST API of ragws, generated from its route table.\n\n"
    "WebSocket endpoints are listed too, as GET operations answering 101 Switching "
    "Protocols: OpenAPI has no WebSocket operations, so each one's description names "
    "the protocol spoken after the upgrade (JSON text frames; see SPEC S4). Socket.IO "
    "(Engine.IO v4) is served under /socket.io/.\n\n"
    "Errors are {\"error\":{\"code\",\"message\"}} with the status code, except the "
    "seed-003 conversation routes, whose validation errors are 422 "
    "{\"detail\":[{\"loc\",\"msg\",\"type\"}]}.\n\n"
    "User routes take a JWT (Authorization: Bearer, or ?token= on WebSocket "
    "endpoints) when auth.mode = jwt and auth.endpoints names them; admin routes "
    "take the token of auth.admin_token_file (or a loopback client when none is "
    "configured), Content-Type: application/json, and an Origin only when listed "
    "in cors.allowed_origins.";

typedef struct gen {
    json_t *schemas; /* components.schemas, borrowed */
    json_t *op_ids;  /* set of the operationIds given */
    json_t *tags;    /* tag -> 1, in first-seen order */
    char *err;
    size_t errlen;
} gen_t;

static int fail(gen_t *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err, g->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols: the WebSocket connection is open";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request: malformed body or invalid parameter";
    case 401: return "Unauthorized: missing or invalid token";
    case 403: return "Forbidden: Origin not allowed";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed (the Allow header lists the methods)";
    case 409: return "Conflict";
    case 413: return "Payload Too Large (limits.max_body_bytes, limits.max_upload_bytes)";
    case 415: return "Unsupported Media Type: application/json expected";
    case 422: return "Unprocessable Content: validation error";
    case 426: return "Upgrade Required: a WebSocket endpoint";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable: storage or backend down";
    default: return "Response";
    }
}

static json_t *ref(const char *name)
{
    char r[160];
    snprintf(r, sizeof r, "#/components/schemas/%s", name);
    return json_pack("{s:s}", "$ref", r);
}

/* {"<type>": {"schema": ...}} for a schema name (checked) or an "@" kind. */
static json_t *content_of(gen_t *g, const char *schema)
{
    if (strcmp(schema, "@text") == 0)
        return json_pack("{s:{s:{s:s}}}", "text/plain", "schema", "type", "string");
    if (strcmp(schema, "@html") == 0)
        return json_pack("{s:{s:{s:s}}}", "text/html", "schema", "type", "string");
    if (strcmp(schema, "@json") == 0)
        return json_pack("{s:{s:{s:s}}}", "application/json", "schema", "type", "object");
    if (strcmp(schema, "@asset") == 0)
        return json_pack("{s:{s:{s:s}}, s:{s:{s:s}}}", "text/javascript", "schema", "type",
                         "string", "text/css", "schema", "type", "string");
    if (!json_object_get(g->schemas, schema)) {
        fail(g, "unknown schema \"%s\"", schema);
        return NULL;
    }
    return json_pack("{s:{s:o}}", "application/json", "schema", ref(schema));
}

/* responses[status] unless already there. schema NULL: the Error object
 * (none for 101 and 204). */
static int add_response(gen_t *g, json_t *responses, int status, const char *schema)
{
    char key[8];
    snprintf(key, sizeof key, "%d", status);
    if (json_object_get(responses, key)) return 0;
    json_t *r = json_pack("{s:s}", "description", reason(status));
    if (!r) return fail(g, "out of memory");
    if (!schema && status != 101 && status != 204) schema = "Error";
    if (schema) {
        json_t *c = content_of(g, schema);
        if (!c) {
            json_decref(r);
            return -1;
        }
        json_object_set_new(r, "content", c);
    }
    json_object_set_new(responses, key, r);
    return 0;
}

/* "200 Health, 503 Ready, 404" into responses. */
static int parse_responses(gen_t *g, const char *list, json_t *responses)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        char *end;
        long st = strtol(p, &end, 10);
        if (end == p || st < 100 || st > 599) return fail(g, "bad responses list \"%s\"", list);
        p = end;
        char name[96] = "";
        if (*p == ' ') {
            while (*p == ' ') p++;
            size_t n =
                strspn(p, "@_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
            if (n && n < sizeof name && (*p < '0' || *p > '9')) {
                memcpy(name, p, n);
                name[n] = 0;
                p += n;
            }
        }
        if (*p && *p != ',' && *p != ' ') return fail(g, "bad responses list \"%s\"", list);
        if (add_response(g, responses, (int)st, name[0] ? name : NULL) != 0) return -1;
    }
    return 0;
}

static int is_body_method(const char *m)
{
    return strcmp(m, "post") == 0 || strcmp(m, "put") == 0 || strcmp(m, "patch") == 0;
}

/* What the transport and the auth hook answer before any handler runs. */
static int add_common(gen_t *g, const openapi_route_t *r, const char *method, json_t *responses)
{
    int rc = 0;
    if (r->kind == OPENAPI_WS) {
        rc |= add_response(g, responses, 400, NULL);
        rc |= add_response(g, responses, 403, NULL);
        rc |= add_response(g, responses, 426, NULL);
        if (r->auth == OPENAPI_AUTH_ADMIN) rc |= add_response(g, responses, 401, NULL);
        return rc ? -1 : 0;
    }
    if (r->auth == OPENAPI_AUTH_TOKEN && r->kind == OPENAPI_HTTP)
        rc |= add_response(g, responses, 401, NULL);
    if (r->auth == OPENAPI_AUTH_ADMIN) {
        rc |= add_response(g, responses, 401, NULL);
        rc |= add_response(g, responses, 403, NULL);
        rc |= add_response(g, responses, 415, NULL);
    }
    if (r->kind == OPENAPI_HTTP) {
        if (is_body_method(method)) {
            rc |= add_response(g, responses, 400, NULL);
            rc |= add_response(g, responses, 413, NULL);
        }
        rc |= add_response(g, responses, 405, NULL);
    }
    return rc ? -1 : 0;
}

static const openapi_param_t *find_param(const openapi_param_t *ps, const char *in,
                                         const char *name, size_t nlen)
{
    for (; ps && ps->name; ps++)
        if (strcmp(ps->in, in) == 0 && strlen(ps->name) == nlen &&
            memcmp(ps->name, name, nlen) == 0)
            return ps;
    return NULL;
}

static json_t *param_obj(const char *in, const char *name, size_t nlen, const char *type,
                         const char *desc, int required)
{
    return json_pack("{s:s%, s:s, s:b, s:s, s:{s:s}}", "name", name, nlen, "in", in, "required",
                     required, "description", desc, "schema", "type", type ? type : "string");
}

/* The pattern's {path} parameters, then the documented query ones. */
static json_t *parameters(gen_t *g, const openapi_route_t *r)
{
    json_t *a = json_array();
    const openapi_param_t *ps = r->doc->params;
    for (const char *p = strchr(r->pattern, '{'); a && p; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        if (!e) break;
        const openapi_param_t *d = find_param(ps, "path", p + 1, (size_t)(e - p - 1));
        json_array_append_new(a,
                              param_obj("path", p + 1, (size_t)(e - p - 1), d ? d->type : "string",
                                        d ? d->description : "a path segment", 1));
    }
    for (; a && ps && ps->name; ps++) {
        if (strcmp(ps->in, "path") == 0) continue;
        json_array_append_new(
            a, param_obj(ps->in, ps->name, strlen(ps->name), ps->type, ps->description, 0));
    }
    if (a && r->kind == OPENAPI_WS && r->auth == OPENAPI_AUTH_TOKEN &&
        !find_param(ps, "query", "token", 5))
        json_array_append_new(a, param_obj("query", "token", 5, "string",
                                           "JWT, for clients that cannot send an Authorization "
                                           "header (auth.mode = jwt)",
                                           0));
    if (!a) fail(g, "out of memory");
    return a;
}

static json_t *request_body(gen_t *g, const char *schema)
{
    if (strcmp(schema, "@upload") == 0)
        return json_pack("{s:b, s:s, s:{s:{s:{s:s, s:s}}, s:{s:{s:s, s:{s:{s:s, s:s}}}}}}",
                         "required", 1, "description",
                         "the file as the raw body (?filename= names it) or multipart/form-data "
                         "parts (each file part's filename), streamed to disk",
                         "content", "application/octet-stream", "schema", "type", "string",
                         "contentMediaType", "application/octet-stream", "multipart/form-data",
                         "schema", "type", "object", "properties", "file", "type", "string",
                         "contentMediaType", "application/octet-stream");
    json_t *c = content_of(g, schema);
    return c ? json_pack("{s:b, s:o}", "required", 1, "content", c) : NULL;
}

/* operationId: the route's for its first method, with the method appended
 * for the others (health, healthHead). Unique over the document. */
static int op_id(gen_t *g, const openapi_route_t *r, int idx, char *out, size_t outlen)
{
    const char *m = r->methods[idx];
    if (idx == 0)
        snprintf(out, outlen, "%s", r->doc->op_id);
    else
        snprintf(out, outlen, "%s%c%s", r->doc->op_id, m[0] - 'a' + 'A', m + 1);
    if (json_object_get(g->op_ids, out)) return fail(g, "duplicate operationId \"%s\"", out);
    json_object_set_new(g->op_ids, out, json_true());
    return 0;
}

static json_t *security(int auth)
{
    /* The empty requirement: auth off (auth.mode = none, a path not in
     * auth.endpoints, an admin call from loopback without a token file). */
    if (auth == OPENAPI_AUTH_TOKEN) return json_pack("[{s:[]}, {}]", "bearerAuth");
    if (auth == OPENAPI_AUTH_ADMIN) return json_pack("[{s:[]}, {}]", "adminToken");
    return json_array();
}

static json_t *operation(gen_t *g, const openapi_route_t *r, int idx)
{
    const char *m = r->methods[idx];
    char id[128];
    if (op_id(g, r, idx, id, sizeof id) != 0) return NULL;
    const char *tag = r->doc->tag ? r->doc->tag : "misc";
    json_object_set_new(g->tags, tag, json_true());
    json_t *responses = json_object();
    json_t *op = json_pack("{s:s, s:s, s:[s], s:o, s:o}", "operationId", id, "summary",
                           r->summary ? r->summary : id, "tags", tag, "security", security(r->auth),
                           "responses", responses);
    if (!op) return fail(g, "out of memory"), NULL;
    const char *list = r->doc->responses ? r->doc->responses : "";
    if (r->kind == OPENAPI_WS && !strstr(list, "101")) add_response(g, responses, 101, NULL);
    if (parse_responses(g, list, responses) != 0 || add_common(g, r, m, responses) != 0) {
        json_decref(op);
        return NULL;
    }
    json_t *params = parameters(g, r);
    if (!params) return json_decref(op), NULL;
    if (json_array_size(params))
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);
    if (r->doc->request && (is_body_method(m) || !strcmp(m, "delete"))) {
        json_t *b = request_body(g, r->doc->request);
        if (!b) return json_decref(op), NULL;
        json_object_set_new(op, "requestBody", b);
    }
    if (r->kind == OPENAPI_WS) {
        char d[320];
        snprintf(d, sizeof d,
                 "WebSocket endpoint (RFC 6455; JSON text frames): %s. Connect with a "
                 "WebSocket client; a plain GET answers 426.",
                 r->summary ? r->summary : id);
        json_object_set_new(op, "description", json_string(d));
    }
    return op;
}

static int add_route(gen_t *g, json_t *paths, const openapi_route_t *r)
{
    if (!r->doc || !r->doc->op_id || !r->doc->op_id[0])
        return fail(g, "route %s has no operation id", r->pattern);
    json_t *item = json_object_get(paths, r->pattern);
    if (!item) {
        item = json_object();
        if (json_object_set_new(paths, r->pattern, item) != 0) return fail(g, "out of memory");
    }
    for (int i = 0; i < OPENAPI_MAX_METHODS && r->methods[i]; i++) {
        if (json_object_get(item, r->methods[i]))
            return fail(g, "%s %s documented twice", r->methods[i], r->pattern);
        json_t *op = operation(g, r, i);
        if (!op) return -1;
        json_object_set_new(item, r->methods[i], op);
    }
    return 0;
}

static json_t *security_schemes(void)
{
    return json_pack("{s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s}}", "bearerAuth", "type", "http",
                     "scheme", "bearer", "bearerFormat", "JWT", "description",
                     "a JWT (auth.mode = jwt): HS256/RS256 per auth.jwt_*; on WebSocket "
                     "endpoints also ?token= or the Sec-WebSocket-Protocol value",
                     "adminToken", "type", "http", "scheme", "bearer", "description",
                     "the token of auth.admin_token_file");
}

/* The outbound webhooks (webhook.url): what a receiver gets. */
static json_t *webhooks(void)
{
    static const char *const EVENTS[][2] = {
        {"critical_objection", "a strong objection was detected in a conversation"},
        {"task_completed", "an ingestion task completed"},
        {"task_failed", "an ingestion task failed"},
    };
    json_t *w = json_object();
    for (size_t i = 0; w && i < sizeof EVENTS / sizeof EVENTS[0]; i++)
        json_object_set_new(
            w, EVENTS[i][0],
            json_pack("{s:{s:s, s:s, s:[s], s:{s:b, s:{s:{s:o}}}, s:{s:{s:s}}}}", "post",
                      "operationId", EVENTS[i][0], "summary", EVENTS[i][1], "tags", "webhooks",
                      "requestBody", "required", 1, "content", "application/json", "schema",
                      ref("WebhookEvent"), "responses", "2XX", "description",
                      "delivered (anything else is retried with backoff, then dead)"));
    return w;
}

static json_t *tag_list(json_t *tags)
{
    json_t *a = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(tags, k, v) json_array_append_new(a, json_pack("{s:s}", "name", k));
    return a;
}

char *openapi_document(const openapi_route_t *routes, size_t n, const char *version, char *err,
                       size_t errlen)
{
    gen_t g = {openapi_schemas(), json_object(), json_object(), err, errlen};
    json_t *paths = json_object();
    char *out = NULL;
    if (err && errlen) err[0] = 0;
    if (!g.schemas || !g.op_ids || !g.tags || !paths) {
        fail(&g, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (add_route(&g, paths, &routes[i]) != 0) goto done;
    json_object_set_new(g.tags, "webhooks", json_true());
    json_t *doc =
        json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:O, s:o, s:{s:O, s:o}}", "openapi", "3.1.0",
                  "info", "title", "ragws", "version", version ? version : "0", "description",
                  DESCRIPTION, "tags", tag_list(g.tags), "paths", paths, "webhooks", webhooks(),
                  "components", "schemas", g.schemas, "securitySchemes", security_schemes());
    out = json_msg_dump_free(doc);
    if (!out) fail(&g, "out of memory");
done:
    json_decref(paths);
    json_decref(g.schemas);
    json_decref(g.op_ids);
    json_decref(g.tags);
    return out;
}
