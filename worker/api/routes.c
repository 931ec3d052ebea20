#include "worker/api/routes.h"

#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "worker/api/rest.h"
#include "worker/api/rest_conversation.h"
#include "worker/api/rest_docs.h"
#include "worker/api/rest_projects.h"
#include "worker/api/rest_rag.h"
#include "worker/api/rest_tasks.h"
#include "worker/api/rest_ui.h"
#include "worker/api/rest_upload.h"
#include "worker/api/rest_webhooks.h"
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

/* The OpenAPI fields of a route (protocol/openapi.h): operation id, tag,
 * request body schema, "status Schema, ..." responses (a bare status is
 * the Error object; the generator adds what every route of a kind
 * answers: 401, 403, 405, 413 ...), and parameters. */
#define DOC(id, tag, req, resp)                                                                    \
    {                                                                                              \
        id, tag, req, resp, NULL                                                                   \
    }
#define DOCP(id, tag, req, resp, params)                                                           \
    {                                                                                              \
        id, tag, req, resp, params                                                                 \
    }
#define PARAMS(...) ((const openapi_param_t[]){__VA_ARGS__, {NULL, NULL, NULL, NULL}})
#define Q(name, type, desc)                                                                        \
    {                                                                                              \
        "query", name, type, desc                                                                  \
    }
#define PATH(name, type, desc)                                                                     \
    {                                                                                              \
        "path", name, type, desc                                                                   \
    }

#define WS(pat, ep, au, sum, id, params)                                                           \
    {                                                                                              \
        pat, RM_GET, ROUTE_WS, au, &ep, NULL, NULL, sum,                                           \
            DOCP(id, "websocket", NULL, "101", params)                                             \
    }
#define HTTP(m, pat, fn, au, sum, doc)                                                             \
    {                                                                                              \
        pat, m, ROUTE_HTTP, au, NULL, fn, NULL, sum, doc                                           \
    }
#define GET_HEAD (RM_GET | RM_HEAD)

#define P_ID      PATH("id", "string", "numeric id")
#define Q_SESSION Q("session_id", "string", "the session; default: conversation.default_session")
#define P_PROJECT PATH("id", "string", "project id (Socket.IO room project_<id>)")

const route_t api_routes[] = {
    WS("/api/v1/ws", ep_apiv1, ROUTE_AUTH_TOKEN, "API v1 WebSocket: questions and broadcasts",
       "wsApiV1", NULL),
    WS("/ws/monitor", ep_monitor, ROUTE_AUTH_TOKEN, "system metrics and alerts stream", "wsMonitor",
       NULL),
    WS("/ws/publish", ep_publish, ROUTE_AUTH_ADMIN, "publish into channels (producers)",
       "wsPublish", NULL),
    WS("/ws/query", ep_query, ROUTE_AUTH_TOKEN, "multiplexed streaming RAG queries", "wsQuery",
       NULL),
    WS("/chat/ws", ep_chat, ROUTE_AUTH_TOKEN, "streaming chat", "wsChat", NULL),
    WS("/ws/upload", ep_upload, ROUTE_AUTH_TOKEN, "upload and processing progress (?upload_id=)",
       "wsUpload", PARAMS(Q("upload_id", "string", "follow one upload only"))),
    WS("/ws/collections", ep_collections, ROUTE_AUTH_TOKEN,
       "documents added and deleted, collection stats (?collection=)", "wsCollections",
       PARAMS(Q("collection", "string", "one collection only"))),
    WS("/ws/dashboard", ep_dashboard, ROUTE_AUTH_TOKEN,
       "ingestion dashboard: figures and notifications", "wsDashboard", NULL),
    WS("/ws/active-tasks", ep_active_tasks, ROUTE_AUTH_TOKEN,
       "the unfinished ingestion tasks, then every change", "wsActiveTasks", NULL),
    WS("/ws/task/{task_id}", ep_task, ROUTE_AUTH_TOKEN, "one ingestion task: state and log",
       "wsTask", PARAMS(PATH("task_id", "string", "the task's numeric id"))),
    WS("/ws/metrics", ep_metrics, ROUTE_AUTH_TOKEN, "ingestion metrics every interval", "wsMetrics",
       NULL),
    WS("/ws/conversation", ep_conversation, ROUTE_AUTH_TOKEN,
       "live conversation assistant: inputs in, suggestions out", "wsConversation",
       PARAMS(Q("session_id", "string", "resume (or create) this session; default: a new uuid"),
              Q("stream", "string", "1: token frames before each suggestion"))),
    /* Socket.IO authenticates at CONNECT (its own auth); the requirement
     * says which auth.endpoints entries may name it. */
    {"/socket.io/", GET_HEAD | RM_POST | RM_OPTIONS, ROUTE_RAW, ROUTE_AUTH_TOKEN, NULL, NULL,
     engineio_raw, "Engine.IO v4 / Socket.IO v5 (polling and WebSocket)",
     DOC("socketIo", "socket.io", NULL, "200 @text, 101, 400 EngineIoError")},
    {"/socket.io", GET_HEAD | RM_POST | RM_OPTIONS, ROUTE_RAW, ROUTE_AUTH_TOKEN, NULL, NULL,
     engineio_raw, "Engine.IO v4 / Socket.IO v5 (polling and WebSocket)",
     DOC("socketIoNoSlash", "socket.io", NULL, "200 @text, 101, 400 EngineIoError")},
    HTTP(GET_HEAD, "/health", rest_health, ROUTE_AUTH_NONE, "liveness",
         DOC("health", "operations", NULL, "200 Health")),
    HTTP(GET_HEAD, "/ready", rest_ready, ROUTE_AUTH_NONE, "readiness of every worker",
         DOC("ready", "operations", NULL, "200 Ready, 503 Ready")),
    HTTP(GET_HEAD, "/metrics", rest_metrics, ROUTE_AUTH_NONE, "Prometheus metrics",
         DOC("metrics", "operations", NULL, "200 @text")),
    HTTP(GET_HEAD, "/openapi.json", rest_openapi, ROUTE_AUTH_NONE,
         "this document (OpenAPI 3.1, generated from the route table)",
         DOC("openapi", "docs", NULL, "200 @json, 500")),
    HTTP(GET_HEAD, "/docs", rest_docs_page, ROUTE_AUTH_NONE,
         "the API documentation, rendered in the browser (no internet needed)",
         DOC("docs", "docs", NULL, "200 @html")),
    HTTP(GET_HEAD, "/docs/{file}", rest_docs_asset, ROUTE_AUTH_NONE,
         "the documentation page's embedded assets (scripts, styles)",
         DOCP("docsAsset", "docs", NULL, "200 @asset, 404",
              PARAMS(PATH("file", "string", "asset name, e.g. swagger-ui-bundle.js")))),
    HTTP(GET_HEAD, "/", rest_ui_page, ROUTE_AUTH_NONE,
         "the browser UI: chat, documents, dashboards, operations (ui.enabled; ETag, 304)",
         DOC("ui", "ui", NULL, "200 @html, 404")),
    HTTP(GET_HEAD, "/ui/{file}", rest_ui_asset, ROUTE_AUTH_NONE,
         "the browser UI's embedded assets (scripts, styles, uPlot; ETag, 304)",
         DOCP("uiAsset", "ui", NULL, "200 @asset, 404",
              PARAMS(PATH("file", "string", "asset name, e.g. app.js")))),
    HTTP(RM_POST, "/api/query", rest_post_query, ROUTE_AUTH_TOKEN, "ask a question, one answer",
         DOC("query", "rag", "QueryRequest", "200 QueryResponse, 404, 503")),
    HTTP(RM_GET, "/api/collections", rest_get_collections, ROUTE_AUTH_TOKEN,
         "list the document collections",
         DOC("listCollections", "rag", NULL, "200 CollectionList, 503")),
    HTTP(RM_GET, "/api/collections/{name}", rest_get_collection, ROUTE_AUTH_TOKEN,
         "one collection and its documents",
         DOCP("getCollection", "rag", NULL, "200 Collection, 400, 404, 503",
              PARAMS(PATH("name", "string", "collection name")))),
    {"/api/collections/{name}/documents", RM_POST, ROUTE_STREAM, ROUTE_AUTH_TOKEN, NULL,
     rest_upload, NULL, "upload documents (raw or multipart, streamed to disk)",
     DOCP("uploadDocuments", "ingestion", "@upload", "202 UploadAccepted, 400, 413, 503",
          PARAMS(PATH("name", "string", "collection name (created when new)"),
                 Q("filename", "string", "the file's name, for a raw (not multipart) body")))},
    HTTP(RM_GET, "/api/conversations/{id}/messages", rest_get_messages, ROUTE_AUTH_TOKEN,
         "the messages of a stored conversation",
         DOCP("getConversationMessages", "conversations", NULL,
              "200 ConversationMessages, 400, 404, 503",
              PARAMS(PATH("id", "string",
                          "numeric conversation id or an external id (chat_id, session_id)")))),
    HTTP(RM_GET, "/api/tasks", rest_list_tasks, ROUTE_AUTH_TOKEN, "ingestion tasks, newest first",
         DOCP("listTasks", "ingestion", NULL, "200 TaskList, 400, 503",
              PARAMS(Q("status", "string",
                       "queued, extracting, chunking, indexing, completed, failed, cancelled "
                       "or active")))),
    HTTP(RM_GET, "/api/tasks/{id}", rest_get_task, ROUTE_AUTH_TOKEN, "one task and its log",
         DOCP("getTask", "ingestion", NULL, "200 TaskDetail, 400, 404, 503", PARAMS(P_ID))),
    HTTP(RM_POST, "/api/tasks/{id}/cancel", rest_cancel_task, ROUTE_AUTH_TOKEN, "cancel a task",
         DOCP("cancelTask", "ingestion", NULL, "200 Task, 400, 404, 409, 503", PARAMS(P_ID))),
    HTTP(RM_DELETE, "/api/documents/{id}", rest_delete_document, ROUTE_AUTH_TOKEN,
         "delete a document and its chunks",
         DOCP("deleteDocument", "ingestion", NULL, "200 DocumentDeleted, 400, 404, 503",
              PARAMS(P_ID))),
    HTTP(RM_POST, "/api/process", rest_conv_process, ROUTE_AUTH_TOKEN,
         "analyse one conversation input, one suggestion",
         DOCP("process", "conversation", "InputMessage",
              "200 OutputSuggestion, 403, 422 HTTPValidationError, 500, 503", PARAMS(Q_SESSION))),
    HTTP(RM_POST, "/api/webhook/transcription", rest_conv_transcription, ROUTE_AUTH_TOKEN,
         "a transcribed input of a session -> {session_id, suggestion}",
         DOCP("webhookTranscription", "conversation", "InputMessage",
              "200 TranscriptionResult, 403, 422 HTTPValidationError, 500, 503",
              PARAMS(Q("session_id", "string", "the session (required)")))),
    HTTP(RM_GET, "/api/conversation/context", rest_conv_context, ROUTE_AUTH_TOKEN,
         "a session's transcript and figures",
         DOCP("conversationContext", "conversation", NULL,
              "200 ConversationContext, 422 HTTPValidationError, 503", PARAMS(Q_SESSION))),
    HTTP(RM_GET, "/api/conversation/summary", rest_conv_summary, ROUTE_AUTH_TOKEN,
         "a session's figures and last speaker, emotion, sentiment",
         DOCP("conversationSummary", "conversation", NULL,
              "200 ConversationSummaryResponse, 422 HTTPValidationError, 503", PARAMS(Q_SESSION))),
    HTTP(RM_POST, "/api/conversation/clear", rest_conv_clear, ROUTE_AUTH_TOKEN,
         "forget a session's memory",
         DOCP("conversationClear", "conversation", NULL,
              "200 ConversationCleared, 422 HTTPValidationError, 503", PARAMS(Q_SESSION))),
    HTTP(RM_POST, "/api/analyze-batch", rest_conv_batch, ROUTE_AUTH_TOKEN,
         "analyse a whole conversation at once (nothing stored)",
         DOC("analyzeBatch", "conversation", "ConversationBatch",
             "200 BatchAnalysis, 422 HTTPValidationError")),
    HTTP(RM_GET, "/ws/status", rest_conv_status, ROUTE_AUTH_TOKEN,
         "state of a conversation session",
         DOCP("wsStatus", "conversation", NULL, "200 WsStatus, 422 HTTPValidationError, 503",
              PARAMS(Q_SESSION))),
    HTTP(RM_POST, "/ws/clear", rest_conv_clear, ROUTE_AUTH_TOKEN, "forget a session's memory",
         DOCP("wsClear", "conversation", NULL,
              "200 ConversationCleared, 422 HTTPValidationError, 503", PARAMS(Q_SESSION))),
    HTTP(RM_POST, "/api/broadcast", rest_broadcast, ROUTE_AUTH_ADMIN, "publish into a channel",
         DOC("broadcast", "admin", "BroadcastRequest", "202 Published, 400, 413")),
    HTTP(RM_POST, "/api/projects/{id}/broadcast", rest_project_broadcast, ROUTE_AUTH_ADMIN,
         "emit an event into a project's Socket.IO room",
         DOCP("projectBroadcast", "admin", "ProjectBroadcastRequest", "202 RoomPublished, 400, 413",
              PARAMS(P_PROJECT))),
    HTTP(RM_POST, "/api/projects/{id}/updates", rest_project_updates, ROUTE_AUTH_ADMIN,
         "emit project_update into a project's room",
         DOCP("projectUpdate", "admin", "ProjectUpdateRequest", "202 RoomPublished, 400, 413",
              PARAMS(P_PROJECT))),
    HTTP(RM_POST, "/api/projects/{id}/documents/{doc}/status", rest_document_status,
         ROUTE_AUTH_ADMIN, "emit document_status into a project's room",
         DOCP("projectDocumentStatus", "admin", "DocumentStatusRequest",
              "202 RoomPublished, 400, 413",
              PARAMS(P_PROJECT, PATH("doc", "string", "document id")))),
    HTTP(RM_GET, "/api/webhooks/deliveries", rest_webhook_deliveries, ROUTE_AUTH_ADMIN,
         "outbound webhook deliveries (?status=pending|delivered|dead)",
         DOCP("listWebhookDeliveries", "admin", NULL, "200 WebhookDeliveries, 400, 503",
              PARAMS(Q("status", "string", "pending, delivered or dead")))),
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
