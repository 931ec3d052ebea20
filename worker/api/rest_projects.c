/* Admin REST twins of seed 002's server utilities (SPEC S4.4, S8):
 *   POST /api/projects/{id}/broadcast               {"event", "data"}
 *   POST /api/projects/{id}/documents/{doc}/status  {"status", "progress"}
 *   POST /api/projects/{id}/updates                 {"type", "data"}
 * Each publishes one Socket.IO event into the project's room on every
 * worker (through the ring). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/json_msg.h"
#include "worker/net/http.h"
#include "worker/api/rest.h"
#include "worker/api/rest_projects.h"
#include "worker/api/socketio.h"

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
    char out[256];
    snprintf(out, sizeof out, "{\"status\":\"published\",\"room\":\"project_%s\",\"event\":\"%s\"}",
             project, event);
    http_respond(c, 202, "application/json", out, strlen(out), NULL);
}

int rest_projects_dispatch(conn_t *c, const http_request_t *req, const char *body, size_t len)
{
    static const char prefix[] = "/api/projects/";
    size_t pl = sizeof prefix - 1;
    if (req->path_len <= pl || memcmp(req->path, prefix, pl) != 0) return 0;
    const char *p = req->path + pl, *end = req->path + req->path_len;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (!slash) return 0;
    char project[49];
    size_t idlen = (size_t)(slash - p);
    if (!sio_project_id_valid(p, idlen)) {
        http_respond_error(c, 400, "VALIDATION_ERROR", "bad project id");
        return 1;
    }
    memcpy(project, p, idlen);
    project[idlen] = 0;
    const char *tail = slash;
    size_t tlen = (size_t)(end - tail);

    char doc[65] = "";
    enum { BROADCAST, STATUS, UPDATES } kind;
    if (tlen == 10 && memcmp(tail, "/broadcast", 10) == 0) {
        kind = BROADCAST;
    } else if (tlen == 8 && memcmp(tail, "/updates", 8) == 0) {
        kind = UPDATES;
    } else if (tlen > 18 && memcmp(tail, "/documents/", 11) == 0 &&
               memcmp(end - 7, "/status", 7) == 0) {
        size_t dl = tlen - 18;
        if (!sio_project_id_valid(tail + 11, dl)) {
            http_respond_error(c, 400, "VALIDATION_ERROR", "bad document id");
            return 1;
        }
        memcpy(doc, tail + 11, dl);
        doc[dl] = 0;
        kind = STATUS;
    } else {
        return 0;
    }
    if (req->method_len != 4 || memcmp(req->method, "POST", 4) != 0) {
        http_respond_error(c, 405, "METHOD_NOT_ALLOWED", "use POST");
        return 1;
    }
    if (!rest_admin_gate(c, req)) return 1;
    const char *code;
    char err[256];
    json_t *v = json_msg_parse(body, len, &code, err, sizeof err);
    if (!v) {
        http_respond_error(c, 400, code, err);
        return 1;
    }
    json_t *data = json_object_get(v, "data");
    switch (kind) {
    case BROADCAST: {
        const char *event = json_string_value(json_object_get(v, "event"));
        if (!event || !event_name_ok(event)) {
            http_respond_error(c, 400, "VALIDATION_ERROR",
                               "\"event\" (a short string) is required");
            break;
        }
        publish(c, project, event, data ? data : json_null());
        break;
    }
    case UPDATES: {
        const char *type = json_string_value(json_object_get(v, "type"));
        if (!type || !event_name_ok(type)) {
            http_respond_error(c, 400, "VALIDATION_ERROR", "\"type\" (a short string) is required");
            break;
        }
        json_t *d =
            json_pack("{s:s, s:o}", "type", type, "data", data ? json_incref(data) : json_object());
        publish(c, project, "project_update", d);
        json_decref(d);
        break;
    }
    case STATUS: {
        const char *status = json_string_value(json_object_get(v, "status"));
        json_t *prog = json_object_get(v, "progress");
        if (!status || (strcmp(status, "processing") && strcmp(status, "completed") &&
                        strcmp(status, "failed"))) {
            http_respond_error(c, 400, "VALIDATION_ERROR",
                               "\"status\" must be processing, completed or failed");
            break;
        }
        if (prog && !json_is_null(prog) &&
            (!json_is_number(prog) || json_number_value(prog) < 0 ||
             json_number_value(prog) > 100)) {
            http_respond_error(c, 400, "VALIDATION_ERROR",
                               "\"progress\" must be a number from 0 to 100");
            break;
        }
        char *endp;
        long long num = strtoll(doc, &endp, 10);
        json_t *d = json_pack("{s:o, s:s, s:O}", "document_id",
                              *endp ? json_string(doc) : json_integer(num), "status", status,
                              "progress", prog ? prog : json_null());
        publish(c, project, "document_status", d);
        json_decref(d);
        break;
    }
    }
    json_decref(v);
    return 1;
}
