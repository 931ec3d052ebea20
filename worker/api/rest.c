#include "worker/api/rest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocol/publish.h"
#include "base/log.h"
#include "worker/svc/auth.h"
#include "worker/net/http.h"
#include "worker/api/rest_projects.h"
#include "worker/api/rest_rag.h"
#include "worker/worker.h"

const rest_route_t rest_routes[] = {
    {"/health", ROUTE_PUBLIC},
    {"/ready", ROUTE_PUBLIC},
    {"/metrics", ROUTE_PUBLIC},
    {"/api/query", ROUTE_USER},
    {"/api/collections", ROUTE_USER},
    {"/api/collections/{}", ROUTE_USER},
    {"/api/conversations/{}/messages", ROUTE_USER},
    {"/api/broadcast", ROUTE_ADMIN},
    {"/api/projects/{}/broadcast", ROUTE_ADMIN},
    {"/api/projects/{}/updates", ROUTE_ADMIN},
    {"/api/projects/{}/documents/{}/status", ROUTE_ADMIN},
    {NULL, ROUTE_NONE},
};

static int path_is(const http_request_t *req, const char *p)
{
    size_t n = strlen(p);
    return req->path_len == n && memcmp(req->path, p, n) == 0;
}

static int method_is(const http_request_t *req, const char *m)
{
    size_t n = strlen(m);
    return req->method_len == n && memcmp(req->method, m, n) == 0;
}

static void respond_json(conn_t *c, int status, const char *json)
{
    http_respond(c, status, "application/json", json, strlen(json), NULL);
}

/* Ready when every worker of the newest generation listens. */
static void handle_ready(conn_t *c)
{
    int ready = 0, starting = 0, db_down = 0;
    uint32_t newest = 0;
    for (int i = 0; i < SHM_MAX_SLOTS; i++) {
        shm_slot_t *s = &wk->shm->slots[i];
        if (atomic_load(&s->state) == SLOT_FREE) continue;
        uint32_t g = atomic_load(&s->generation);
        if (g > newest) newest = g;
    }
    for (int i = 0; i < SHM_MAX_SLOTS; i++) {
        shm_slot_t *s = &wk->shm->slots[i];
        uint32_t st = atomic_load(&s->state);
        if (st == SLOT_FREE || atomic_load(&s->generation) != newest) continue;
        if (st == SLOT_READY) {
            ready++;
            if (!atomic_load(&s->db_ok)) db_down++;
        } else if (st == SLOT_STARTING) {
            starting++;
        }
    }
    int want = config_worker_count(wk->cfg);
    int ok = !wk->draining && ready >= want && !db_down;
    char body[256];
    snprintf(body, sizeof body,
             "{\"status\":\"%s\",\"workers_ready\":%d,\"workers_expected\":%d,"
             "\"database\":\"%s\",\"draining\":%s}",
             ok ? "ready" : "not_ready", ready, want, db_down ? "down" : "up",
             wk->draining ? "true" : "false");
    respond_json(c, ok ? 200 : 503, body);
}

/* application/json, parameters (charset) allowed. */
static int is_json(const http_request_t *req)
{
    const http_header_t *t = http_find_header(req, "Content-Type");
    if (!t || t->value_len < 16 || strncasecmp(t->value, "application/json", 16) != 0) return 0;
    char next = t->value_len > 16 ? t->value[16] : ';';
    return next == ';' || next == ' ' || next == '\t';
}

/* Cross-site requests cannot reach admin calls: a browser page may send
 * text/plain without a preflight, never application/json, and always
 * says its Origin. */
int rest_admin_gate(conn_t *c, const http_request_t *req)
{
    if (!http_origin_listed(req)) {
        http_respond_error(c, 403, "ORIGIN_NOT_ALLOWED",
                           "admin calls accept only an Origin listed in cors.allowed_origins");
        return 0;
    }
    if (!is_json(req)) {
        http_respond_error(c, 415, "UNSUPPORTED_MEDIA_TYPE",
                           "admin calls take Content-Type: application/json");
        return 0;
    }
    if (!http_admin_allowed(c, req)) {
        http_respond_error(c, 401, "UNAUTHORIZED",
                           "admin token required (Authorization: Bearer <token>)");
        return 0;
    }
    return 1;
}

/* 401 with the challenge of RFC 6750 section 3. */
static void respond_unauthorized(conn_t *c, const char *why, int had_token)
{
    char msg[192];
    snprintf(msg, sizeof msg, "Authentication failed: %s", why);
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", "UNAUTHORIZED", "message", msg);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    char hdr[256];
    if (had_token)
        snprintf(hdr, sizeof hdr,
                 "WWW-Authenticate: Bearer realm=\"ragws\", error=\"invalid_token\", "
                 "error_description=\"%s\"\r\n",
                 why);
    else
        snprintf(hdr, sizeof hdr, "WWW-Authenticate: Bearer realm=\"ragws\"\r\n");
    static const char fallback[] =
        "{\"error\":{\"code\":\"UNAUTHORIZED\",\"message\":\"Authentication failed\"}}";
    http_respond(c, 401, "application/json", s ? s : fallback, strlen(s ? s : fallback), hdr);
    free(s);
    stats_add(&wk->stats->errors, 1);
}

/* JWT gate of a user path (SPEC S7). Returns 1 and the caller's sub ("" for
 * a token without one), or answers 401 and returns 0. */
static int user_gate(conn_t *c, const http_request_t *req, char *sub, size_t sublen)
{
    sub[0] = 0;
    if (!auth_path_protected(req->path, req->path_len)) return 1;
    char token[AUTH_TOKEN_BUF], why[128] = "";
    size_t n = auth_bearer_token(req, token, sizeof token);
    if (!n) {
        respond_unauthorized(c, "missing token (Authorization: Bearer <jwt>)", 0);
        return 0;
    }
    if (auth_verify(token, n, sub, sublen, why, sizeof why) != 0) {
        respond_unauthorized(c, why, 1);
        return 0;
    }
    return 1;
}

static void handle_broadcast(conn_t *c, const http_request_t *req, const char *body, size_t len)
{
    if (!rest_admin_gate(c, req)) return;
    publish_req_t p;
    const char *code;
    char err[256];
    if (publish_parse(body, len, &p, &code, err, sizeof err) < 0) {
        http_respond_error(c, 400, code, err);
        return;
    }
    int rc = worker_publish(p.channel, p.channel_len, p.payload, p.payload_len);
    free(p.payload);
    if (rc < 0) {
        http_respond_error(c, 413, "PAYLOAD_TOO_LARGE",
                           "message too large for the broadcast ring (shm.ring_size / 4)");
        return;
    }
    char out[160];
    snprintf(out, sizeof out, "{\"status\":\"published\",\"channel\":\"%s\"}", p.channel);
    respond_json(c, 202, out);
}

void rest_dispatch(conn_t *c, const http_request_t *req, const char *body, size_t body_len)
{
    if (method_is(req, "OPTIONS")) {
        /* CORS preflight */
        http_respond(c, 204, "text/plain", "", 0,
                     "Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS\r\n"
                     "Access-Control-Allow-Headers: Authorization, Content-Type\r\n"
                     "Access-Control-Max-Age: 600\r\n");
        return;
    }
    int get = method_is(req, "GET") || method_is(req, "HEAD");
    if (path_is(req, "/health")) {
        if (!get) goto not_allowed;
        respond_json(c, 200, "{\"status\":\"ok\"}");
    } else if (path_is(req, "/ready")) {
        if (!get) goto not_allowed;
        handle_ready(c);
    } else if (path_is(req, "/metrics")) {
        if (!get) goto not_allowed;
        size_t len;
        char *text = metrics_render(wk->shm, &len);
        http_respond(c, 200, "text/plain; version=0.0.4", text, len, NULL);
        free(text);
    } else if (path_is(req, "/api/broadcast")) {
        if (!method_is(req, "POST")) goto not_allowed;
        handle_broadcast(c, req, body, body_len);
    } else if (!rest_projects_dispatch(c, req, body, body_len)) {
        /* Every other path is a user path: the token first, so that a
         * 401 comes before a 404 and tells nothing about the routes. */
        char sub[AUTH_SUB_MAX];
        if (!user_gate(c, req, sub, sizeof sub)) return;
        /* Under jwt the sub ("" anonymous) decides the conversations read. */
        const char *owner = wk->cfg->auth_mode == AUTH_JWT ? sub : NULL;
        if (!rest_rag_dispatch(c, req, body, body_len, owner))
            http_respond_error(c, 404, "NOT_FOUND", "no such endpoint");
    }
    return;
not_allowed:
    http_respond_error(c, 405, "METHOD_NOT_ALLOWED", "method not allowed on this path");
}
