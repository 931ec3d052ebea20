#include "worker/api/rest_projects.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/gateway.h"
#include "protocol/json_msg.h"
#include "worker/api/socketio.h"
#include "worker/net/http.h"

static int event_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\') return 0;
    return 1;
}

static void publish(conn_t *c, const char *project, const char *event, json_t *data)
{
    if (sio_room_emit(project, event, data) < 0) {
        http_respond_error(c, 413, "PAYLOAD_TOO_LARGE", "event too large for the broadcast ring");
        return;
    }
    char *out = gateway_published_room(project, event);
    if (!out) {
        http_respond_error(c, 500, "INTERNAL_ERROR", "out of memory");
        return;
    }
    http_respond(c, 202, "application/json", out, strlen(out), NULL);
    free(out);
}

/* A route parameter that must be a project-style id (1..48 of
 * [A-Za-z0-9_-]); answers 400 and returns 0 when it is not. */
static int id_param(conn_t *c, const route_params_t *params, const char *name, char *out,
                    size_t outlen, const char *what)
{
    int n = route_param(params, name, out, outlen);
    if (n > 0 && sio_project_id_valid(out, (size_t)n)) return 1;
    http_respond_error(c, 400, "VALIDATION_ERROR", what);
    return 0;
}

/* The body as a JSON object (400 when it is not) and the project id. */
static json_t *parse(conn_t *c, const route_params_t *params, const char *body, size_t len,
                     char project[49])
{
    if (!id_param(c, params, "id", project, 49, "bad project id")) return NULL;
    const char *code;
    char err[256];
    json_t *v = json_msg_parse(body, len, &code, err, sizeof err);
    if (!v) http_respond_error(c, 400, code, err);
    return v;
}

void rest_project_broadcast(conn_t *c, const http_request_t *req, const route_params_t *params,
                            const char *body, size_t len)
{
    char project[49];
    json_t *v = parse(c, params, body, len, project);
    if (!v) return;
    json_t *data = json_object_get(v, "data");
    const char *event = json_string_value(json_object_get(v, "event"));
    if (!event || !event_name_ok(event))
        http_respond_error(c, 400, "VALIDATION_ERROR", "\"event\" (a short string) is required");
    else
        publish(c, project, event, data ? data : json_null());
    json_decref(v);
}

void rest_project_updates(conn_t *c, const http_request_t *req, const route_params_t *params,
                          const char *body, size_t len)
{
    char project[49];
    json_t *v = parse(c, params, body, len, project);
    if (!v) return;
    json_t *data = json_object_get(v, "data");
    const char *type = json_string_value(json_object_get(v, "type"));
    if (!type || !event_name_ok(type)) {
        http_respond_error(c, 400, "VALIDATION_ERROR", "\"type\" (a short string) is required");
    } else {
        json_t *d =
            json_pack("{s:s, s:o}", "type", type, "data", data ? json_incref(data) : json_object());
        publish(c, project, "project_update", d);
        json_decref(d);
    }
    json_decref(v);
}

static int progress_ok(const json_t *prog)
{
    return !prog || json_is_null(prog) ||
           (json_is_number(prog) && json_number_value(prog) >= 0 && json_number_value(prog) <= 100);
}

void rest_document_status(conn_t *c, const http_request_t *req, const route_params_t *params,
                          const char *body, size_t len)
{
    char project[49], doc[65];
    if (!id_param(c, params, "id", project, sizeof project, "bad project id") ||
        !id_param(c, params, "doc", doc, sizeof doc, "bad document id"))
        return;
    json_t *v = parse(c, params, body, len, project);
    if (!v) return;
    const char *status = json_string_value(json_object_get(v, "status"));
    json_t *prog = json_object_get(v, "progress");
    if (!status ||
        (strcmp(status, "processing") && strcmp(status, "completed") && strcmp(status, "failed"))) {
        http_respond_error(c, 400, "VALIDATION_ERROR",
                           "\"status\" must be processing, completed or failed");
    } else if (!progress_ok(prog)) {
        http_respond_error(c, 400, "VALIDATION_ERROR",
                           "\"progress\" must be a number from 0 to 100");
    } else {
        char *endp;
        long long num = strtoll(doc, &endp, 10);
        json_t *d = json_pack("{s:o, s:s, s:O}", "document_id",
                              *endp ? json_string(doc) : json_integer(num), "status", status,
                              "progress", prog ? prog : json_null());
        publish(c, project, "document_status", d);
        json_decref(d);
    }
    json_decref(v);
}
