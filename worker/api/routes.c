#include "worker/api/routes.h"

#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "worker/api/rest.h"
#include "worker/api/rest_conversation.h"
#include "worker/api/rest_projects.h"
#include "worker/api/rest_rag.h"
#include "worker/api/rest_tasks.h"
#include "worker/api/rest_upload.h"
#include "worker/api/socketio.h"
#include "worker/svc/auth.h"

extern const endpoint_t ep_apiv1, ep_monitor, ep_publish, ep_query, ep_chat, ep_conversation;
extern const endpoint_t ep_upload, ep_collections, ep_dashboard, ep_metrics, ep_active_tasks,
    ep_task;

/* Engine.IO answers every method itself (its own CORS preflight too). */
static int engineio_raw(conn_t *c, const http_request_t *req, const char *body, size_t body_len,
                        const char *rest, size_t rest_len)
{
    return sio_http(c, req, body, body_len, rest, rest_len);
}

#define WS(pat, ep, au, sum)                                                                       \
    {                                                                                              \
        pat, RM_GET, ROUTE_WS, au, &ep, NULL, NULL, sum                                            \
    }
#define HTTP(m, pat, fn, au, sum)                                                                  \
    {                                                                                              \
        pat, m, ROUTE_HTTP, au, NULL, fn, NULL, sum                                                \
    }
#define GET_HEAD (RM_GET | RM_HEAD)

const route_t api_routes[] = {
    WS("/api/v1/ws", ep_apiv1, ROUTE_AUTH_TOKEN, "API v1 WebSocket: questions and broadcasts"),
    WS("/ws/monitor", ep_monitor, ROUTE_AUTH_TOKEN, "system metrics and alerts stream"),
    WS("/ws/publish", ep_publish, ROUTE_AUTH_ADMIN, "publish into channels (producers)"),
    WS("/ws/query", ep_query, ROUTE_AUTH_TOKEN, "multiplexed streaming RAG queries"),
    WS("/chat/ws", ep_chat, ROUTE_AUTH_TOKEN, "streaming chat"),
    WS("/ws/upload", ep_upload, ROUTE_AUTH_TOKEN, "upload and processing progress (?upload_id=)"),
    WS("/ws/collections", ep_collections, ROUTE_AUTH_TOKEN,
       "documents added and deleted, collection stats (?collection=)"),
    WS("/ws/dashboard", ep_dashboard, ROUTE_AUTH_TOKEN,
       "ingestion dashboard: figures and notifications"),
    WS("/ws/active-tasks", ep_active_tasks, ROUTE_AUTH_TOKEN,
       "the unfinished ingestion tasks, then every change"),
    WS("/ws/task/{task_id}", ep_task, ROUTE_AUTH_TOKEN, "one ingestion task: state and log"),
    WS("/ws/metrics", ep_metrics, ROUTE_AUTH_TOKEN, "ingestion metrics every interval"),
    WS("/ws/conversation", ep_conversation, ROUTE_AUTH_TOKEN,
       "live conversation assistant: inputs in, suggestions out (?session_id=, ?stream=1)"),
    /* Socket.IO authenticates at CONNECT (its own auth); the requirement
     * says which auth.endpoints entries may name it. */
    {"/socket.io/", GET_HEAD | RM_POST | RM_OPTIONS, ROUTE_RAW, ROUTE_AUTH_TOKEN, NULL, NULL,
     engineio_raw, "Engine.IO v4 / Socket.IO v5 (polling and WebSocket)"},
    {"/socket.io", GET_HEAD | RM_POST | RM_OPTIONS, ROUTE_RAW, ROUTE_AUTH_TOKEN, NULL, NULL,
     engineio_raw, "Engine.IO v4 / Socket.IO v5 (polling and WebSocket)"},
    HTTP(GET_HEAD, "/health", rest_health, ROUTE_AUTH_NONE, "liveness"),
    HTTP(GET_HEAD, "/ready", rest_ready, ROUTE_AUTH_NONE, "readiness of every worker"),
    HTTP(GET_HEAD, "/metrics", rest_metrics, ROUTE_AUTH_NONE, "Prometheus metrics"),
    HTTP(RM_POST, "/api/query", rest_post_query, ROUTE_AUTH_TOKEN, "ask a question, one answer"),
    HTTP(RM_GET, "/api/collections", rest_get_collections, ROUTE_AUTH_TOKEN,
         "list the document collections"),
    HTTP(RM_GET, "/api/collections/{name}", rest_get_collection, ROUTE_AUTH_TOKEN,
         "one collection and its documents"),
    {"/api/collections/{name}/documents", RM_POST, ROUTE_STREAM, ROUTE_AUTH_TOKEN, NULL,
     rest_upload, NULL, "upload documents (raw or multipart, streamed to disk)"},
    HTTP(RM_GET, "/api/conversations/{id}/messages", rest_get_messages, ROUTE_AUTH_TOKEN,
         "the messages of a stored conversation"),
    HTTP(RM_GET, "/api/tasks", rest_list_tasks, ROUTE_AUTH_TOKEN, "ingestion tasks, newest first"),
    HTTP(RM_GET, "/api/tasks/{id}", rest_get_task, ROUTE_AUTH_TOKEN, "one task and its log"),
    HTTP(RM_POST, "/api/tasks/{id}/cancel", rest_cancel_task, ROUTE_AUTH_TOKEN, "cancel a task"),
    HTTP(RM_DELETE, "/api/documents/{id}", rest_delete_document, ROUTE_AUTH_TOKEN,
         "delete a document and its chunks"),
    HTTP(RM_POST, "/api/process", rest_conv_process, ROUTE_AUTH_TOKEN,
         "analyse one conversation input, one suggestion (?session_id=)"),
    HTTP(RM_POST, "/api/webhook/transcription", rest_conv_transcription, ROUTE_AUTH_TOKEN,
         "a transcribed input of session ?session_id= -> {session_id, suggestion}"),
    HTTP(RM_GET, "/api/conversation/context", rest_conv_context, ROUTE_AUTH_TOKEN,
         "a session's transcript and figures (?session_id=)"),
    HTTP(RM_GET, "/api/conversation/summary", rest_conv_summary, ROUTE_AUTH_TOKEN,
         "a session's figures and last speaker, emotion, sentiment (?session_id=)"),
    HTTP(RM_POST, "/api/conversation/clear", rest_conv_clear, ROUTE_AUTH_TOKEN,
         "forget a session's memory (?session_id=)"),
    HTTP(RM_POST, "/api/analyze-batch", rest_conv_batch, ROUTE_AUTH_TOKEN,
         "analyse a whole conversation at once (nothing stored)"),
    HTTP(RM_GET, "/ws/status", rest_conv_status, ROUTE_AUTH_TOKEN,
         "state of a conversation session (?session_id=)"),
    HTTP(RM_POST, "/ws/clear", rest_conv_clear, ROUTE_AUTH_TOKEN,
         "forget a session's memory (?session_id=)"),
    HTTP(RM_POST, "/api/broadcast", rest_broadcast, ROUTE_AUTH_ADMIN, "publish into a channel"),
    HTTP(RM_POST, "/api/projects/{id}/broadcast", rest_project_broadcast, ROUTE_AUTH_ADMIN,
         "emit an event into a project's Socket.IO room"),
    HTTP(RM_POST, "/api/projects/{id}/updates", rest_project_updates, ROUTE_AUTH_ADMIN,
         "emit project_update into a project's room"),
    HTTP(RM_POST, "/api/projects/{id}/documents/{doc}/status", rest_document_status,
         ROUTE_AUTH_ADMIN, "emit document_status into a project's room"),
};
const size_t api_n_routes = sizeof api_routes / sizeof api_routes[0];

/* The requirement of the routes a path (or, with prefix, a path prefix)
 * names: with prefix, any token route under it is enough. -1: none. */
static int path_auth(const char *p, size_t n, int prefix)
{
    for (size_t i = 0; i < api_n_routes; i++) {
        const route_t *r = &api_routes[i];
        if (route_pattern_match(r->pattern, p, n, prefix, NULL) &&
            (!prefix || r->auth == ROUTE_AUTH_TOKEN))
            return r->auth;
    }
    return -1;
}

int routes_path_protected(const char *path, size_t len)
{
    int a = path_auth(path, len, 0);
    if (a == ROUTE_AUTH_NONE || a == ROUTE_AUTH_ADMIN) return 0;
    return auth_path_protected(path, len);
}

/* One auth.endpoints item [b, e): a path or "prefix*" of a token route. */
static int check_item(const char *b, const char *e, char *err, size_t errlen)
{
    int prefix = e[-1] == '*';
    int a = path_auth(b, (size_t)(e - b) - (size_t)prefix, prefix);
    int len = (int)(e - b);
    if (a < 0)
        return err_set(err, errlen,
                       "auth.endpoints: %.*s matches no WebSocket endpoint or REST "
                       "route (admin and public paths do not take a user token)",
                       len, b);
    if (a == ROUTE_AUTH_NONE)
        return err_set(err, errlen, "auth.endpoints: %.*s is always public (health and metrics)",
                       len, b);
    if (a == ROUTE_AUTH_ADMIN)
        return err_set(err, errlen,
                       "auth.endpoints: %.*s is an admin path: it takes the token of "
                       "auth.admin_token_file, not a JWT",
                       len, b);
    return 0;
}

int routes_check_config(const ragws_config_t *cfg, char *err, size_t errlen)
{
    const char *p = cfg->auth_endpoints, *end = p + strlen(p);
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *b = p, *e = comma ? comma : end;
        while (b < e && (*b == ' ' || *b == '\t')) b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
        p = comma ? comma + 1 : end;
        if (b < e && check_item(b, e, err, errlen) != 0) return -1;
    }
    return 0;
}
