#include "worker/rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/publish.h"
#include "util/log.h"
#include "worker/http_server.h"
#include "worker/rest_projects.h"
#include "worker/rest_rag.h"
#include "worker/worker.h"

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

static void handle_broadcast(conn_t *c, const http_request_t *req,
                             const char *body, size_t len)
{
    if (!http_admin_allowed(c, req)) {
        http_respond_error(c, 401, "UNAUTHORIZED",
                           "admin token required (Authorization: Bearer <token>)");
        return;
    }
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

void rest_dispatch(conn_t *c, const http_request_t *req, const char *body,
                   size_t body_len)
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
        char *text = metrics_render(&len);
        http_respond(c, 200, "text/plain; version=0.0.4", text, len, NULL);
        free(text);
    } else if (path_is(req, "/api/broadcast")) {
        if (!method_is(req, "POST")) goto not_allowed;
        handle_broadcast(c, req, body, body_len);
    } else if (!rest_rag_dispatch(c, req, body, body_len) &&
               !rest_projects_dispatch(c, req, body, body_len)) {
        http_respond_error(c, 404, "NOT_FOUND", "no such endpoint");
    }
    return;
not_allowed:
    http_respond_error(c, 405, "METHOD_NOT_ALLOWED", "method not allowed on this path");
}
