/* Component schemas of the OpenAPI document (openapi.h): every request and
 * response body of the REST routes, written from the encoders that produce
 * them (protocol/, the store's json_build_object listings) and from seed
 * 003 for the conversation assistant and the webhooks. Built with jansson;
 * the small constructors below keep each schema one readable statement.
 * Names are what the route table's request/responses fields refer to. */
#include "protocol/openapi.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- constructors (each returns a new reference, NULL on failure) ---- */

static json_t *typed(const char *type, const char *desc)
{
    return desc ? json_pack("{s:s, s:s}", "type", type, "description", desc)
                : json_pack("{s:s}", "type", type);
}
/* Any JSON value. */
static json_t *ANY(const char *desc) { return json_pack("{s:s}", "description", desc); }
static json_t *S(const char *desc) { return typed("string", desc); }
static json_t *I(const char *desc) { return typed("integer", desc); }
static json_t *N(const char *desc) { return typed("number", desc); }
static json_t *B(const char *desc) { return typed("boolean", desc); }
/* A string or null (3.1: type arrays). */
static json_t *SN(const char *desc)
{
    return json_pack("{s:[s, s], s:s}", "type", "string", "null", "description", desc);
}
static json_t *IN(const char *desc)
{
    return json_pack("{s:[s, s], s:s}", "type", "integer", "null", "description", desc);
}
static json_t *TS(void)
{
    return json_pack("{s:[s, s], s:s}", "type", "string", "null", "format", "date-time");
}
static json_t *REF(const char *name)
{
    char r[160];
    snprintf(r, sizeof r, "#/components/schemas/%s", name);
    return json_pack("{s:s}", "$ref", r);
}
static json_t *ARR(json_t *items)
{
    return json_pack("{s:s, s:o}", "type", "array", "items", items);
}
static json_t *MAP(json_t *values)
{
    return json_pack("{s:s, s:o}", "type", "object", "additionalProperties", values);
}
/* One of the given strings (NULL-ended). */
static json_t *ENUM(const char *desc, ...)
{
    json_t *e = json_array();
    va_list ap;
    va_start(ap, desc);
    for (const char *v = va_arg(ap, const char *); v; v = va_arg(ap, const char *))
        json_array_append_new(e, json_string(v));
    va_end(ap);
    return json_pack("{s:s, s:o, s:s}", "type", "string", "enum", e, "description", desc);
}
static json_t *WITH_RANGE(json_t *s, double min, double max)
{
    json_object_set_new(s, "minimum", json_real(min));
    json_object_set_new(s, "maximum", json_real(max));
    return s;
}

/* An object: required is a space-separated list of the required
 * properties ("" none), then name, schema pairs ending with NULL. */
static json_t *OBJ(const char *required, ...)
{
    json_t *props = json_object(), *req = json_array();
    va_list ap;
    va_start(ap, required);
    for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *))
        json_object_set_new(props, k, va_arg(ap, json_t *));
    va_end(ap);
    for (const char *p = required; p && *p;) {
        size_t n = strcspn(p, " ");
        if (n) json_array_append_new(req, json_stringn(p, n));
        p += n;
        while (*p == ' ') p++;
    }
    json_t *o = json_pack("{s:s, s:o}", "type", "object", "properties", props);
    if (o && json_array_size(req))
        json_object_set_new(o, "required", req);
    else
        json_decref(req);
    return o;
}

/* ---- the gateway's own routes ---- */

static void gateway(json_t *s)
{
    json_object_set_new(s, "Error",
                        OBJ("error", "error",
                            OBJ("code message", "code", S("machine-readable code (SPEC S4.0)"),
                                "message", S("what went wrong, for people"), NULL),
                            NULL));
    json_object_set_new(
        s, "EngineIoError",
        OBJ("code message", "code", I("Engine.IO error code (0 to 5)"), "message", S(NULL), NULL));
    json_object_set_new(s, "Health", OBJ("status", "status", ENUM("", "ok", NULL), NULL));
    json_object_set_new(
        s, "Ready",
        OBJ("status workers_ready workers_expected database draining", "status",
            ENUM("ready when every worker of the newest generation listens and the database is up",
                 "ready", "not_ready", NULL),
            "workers_ready", I(NULL), "workers_expected", I(NULL), "database",
            ENUM("", "up", "down", NULL), "draining", B("the server is shutting down"), NULL));
    json_object_set_new(s, "BroadcastRequest",
                        OBJ("channel message", "channel", S("channel name"), "message",
                            ANY("any JSON value, published as is"), NULL));
    json_object_set_new(
        s, "Published",
        OBJ("status channel", "status", ENUM("", "published", NULL), "channel", S(NULL), NULL));
    json_object_set_new(s, "ProjectBroadcastRequest",
                        OBJ("event", "event", S("Socket.IO event name"), "data",
                            ANY("the event's payload (any JSON)"), NULL));
    json_object_set_new(
        s, "ProjectUpdateRequest",
        OBJ("type", "type", S("update type"), "data", typed("object", "update details"), NULL));
    json_object_set_new(
        s, "DocumentStatusRequest",
        OBJ("status", "status", ENUM("", "processing", "completed", "failed", NULL), "progress",
            WITH_RANGE(json_pack("{s:[s, s]}", "type", "number", "null"), 0, 100), NULL));
    json_object_set_new(s, "RoomPublished",
                        OBJ("status room event", "status", ENUM("", "published", NULL), "room",
                            S("project_<id>"), "event", S(NULL), NULL));
}

static void rag(json_t *s)
{
    json_object_set_new(s, "QueryRequest",
                        OBJ("query", "query", S("the question"), "collection_name",
                            S("collection to search (default \"documents\")"), "mode",
                            ENUM("", "fast", "balanced", "comprehensive", NULL), "stream",
                            B("ignored over REST (one answer)"), "max_results",
                            WITH_RANGE(I("sources retrieved (default 10)"), 1, 50),
                            "include_sources", B("default true"), NULL));
    json_object_set_new(s, "Citation",
                        OBJ("citation_id source confidence content", "citation_id", I(NULL),
                            "source", S("file name"), "page", IN("page, null when unknown"),
                            "confidence", N(NULL), "content", S("the passage"), "document_id",
                            I(NULL), NULL));
    json_object_set_new(s, "QueryResponse",
                        OBJ("answer citations query_analysis", "answer", S(NULL), "citations",
                            ARR(REF("Citation")), "query_analysis",
                            OBJ("", "intent", S(NULL), "entities", ARR(S(NULL)), NULL),
                            "total_time", N("seconds"), "tokens_generated", I(NULL), "sources_used",
                            I(NULL), "processing_mode", S(NULL), "model", S(NULL),
                            "conversation_id", I("the stored conversation"), NULL));
    json_object_set_new(s, "CollectionSummary",
                        OBJ("name", "name", S(NULL), "description", SN(NULL), "total_documents",
                            I(NULL), "total_chunks", I(NULL), "storage_size_mb", N(NULL),
                            "last_updated", TS(), NULL));
    json_object_set_new(s, "CollectionList",
                        OBJ("collections", "collections", ARR(REF("CollectionSummary")), NULL));
    json_object_set_new(s, "Document",
                        OBJ("document_id filename", "document_id", I(NULL), "filename", S(NULL),
                            "content_type", SN(NULL), "size_bytes", I(NULL), "status", S(NULL),
                            "created_at", TS(), "chunks", I(NULL), NULL));
    json_object_set_new(s, "Collection",
                        OBJ("name documents", "name", S(NULL), "description", SN(NULL),
                            "created_at", TS(), "total_documents", I(NULL), "total_chunks", I(NULL),
                            "documents", ARR(REF("Document")), NULL));
    json_object_set_new(
        s, "StoredMessage",
        OBJ("id role content", "id", I(NULL), "role", ENUM("", "user", "assistant", "system", NULL),
            "content", S(NULL), "status", SN("complete, cancelled, failed ..."), "metadata",
            json_pack("{s:[s, s]}", "type", "object", "null"), "created_at", TS(), NULL));
    json_object_set_new(s, "ConversationMessages",
                        OBJ("conversation_id messages", "conversation_id", I(NULL), "kind",
                            S("chat, query, socketio, conversation ..."), "external_id", SN(NULL),
                            "created_at", TS(), "messages", ARR(REF("StoredMessage")), NULL));
}

static void ingestion(json_t *s)
{
    json_t *one = OBJ("upload_id task_id filename", "upload_id", S(NULL), "task_id", I(NULL),
                      "filename", S(NULL), NULL);
    json_object_set_new(s, "UploadedFile", one);
    json_object_set_new(s, "UploadAccepted",
                        OBJ("upload_id task_id filename uploads", "upload_id",
                            S("the first file's (follow it on /ws/upload?upload_id=)"), "task_id",
                            I(NULL), "filename", S(NULL), "uploads", ARR(REF("UploadedFile")),
                            NULL));
    json_object_set_new(
        s, "Task",
        OBJ("id task_id status", "id", I(NULL), "task_id", I("same as id"), "upload_id", SN(NULL),
            "filename", SN(NULL), "collection", SN(NULL), "status",
            ENUM("", "queued", "extracting", "chunking", "indexing", "completed", "failed",
                 "cancelled", NULL),
            "progress", WITH_RANGE(N(NULL), 0, 1), "document_id", IN(NULL), "content_type",
            SN(NULL), "size_bytes", I(NULL), "pages", I(NULL), "pages_done", I(NULL), "chunks",
            I(NULL), "attempts", I(NULL), "error", SN(NULL), "created_at", TS(), "started_at", TS(),
            "finished_at", TS(), NULL));
    json_object_set_new(s, "TaskList", OBJ("tasks", "tasks", ARR(REF("Task")), NULL));
    json_t *detail = json_pack("{s:[o, o]}", "allOf", REF("Task"),
                               OBJ("logs", "logs",
                                   ARR(OBJ("level message timestamp", "level", S(NULL), "message",
                                           S(NULL), "timestamp", S(NULL), NULL)),
                                   NULL));
    json_object_set_new(s, "TaskDetail", detail);
    json_object_set_new(s, "DocumentDeleted",
                        OBJ("deleted document_id chunks_removed", "deleted", B(NULL), "document_id",
                            I(NULL), "chunks_removed", I(NULL), NULL));
}

/* ---- seed 003: the conversation assistant, its REST twins ---- */

static json_t *summary(void)
{
    return OBJ("total_messages client_messages agent_messages sentiments emotions",
               "total_messages", I(NULL), "client_messages", I(NULL), "agent_messages", I(NULL),
               "sentiments", MAP(I(NULL)), "emotions", MAP(I(NULL)), NULL);
}

static void conversation(json_t *s)
{
    json_object_set_new(s, "InputMessage",
                        OBJ("text speaker", "text", S("what was said (a transcription)"), "speaker",
                            ENUM("", "client", "agent", NULL), "sentiment",
                            S("positive, negative, neutral ... (from the audio service)"),
                            "emotion", S("uncertain, joy, neutral ..."), "stream",
                            B("WebSocket only: token frames before the suggestion"), NULL));
    json_object_set_new(
        s, "OutputSuggestion",
        OBJ("questions signals_detected recommended_direction", "questions",
            ARR(S("a question the agent may ask")), "signals_detected",
            ARR(S("pricing objection, interest expressed, hesitation, strong objection ...")),
            "recommended_direction", S(NULL), NULL));
    json_object_set_new(s, "ValidationError",
                        OBJ("loc msg type", "loc",
                            ARR(json_pack("{s:[s, s]}", "type", "string", "integer")), "msg",
                            S(NULL), "type", S(NULL), NULL));
    json_object_set_new(s, "HTTPValidationError",
                        OBJ("detail", "detail", ARR(REF("ValidationError")), NULL));
    json_object_set_new(s, "ConversationSummary", summary());
    json_object_set_new(s, "ConversationContext",
                        OBJ("context summary", "context",
                            S("[CLIENT] (sentiment: ..., emotion: ...): text, one line each"),
                            "summary", REF("ConversationSummary"), NULL));
    json_object_set_new(s, "ConversationSummaryResponse",
                        OBJ("summary", "summary", REF("ConversationSummary"), "last_speaker",
                            SN(NULL), "last_emotion", SN(NULL), "last_sentiment", SN(NULL), NULL));
    json_object_set_new(
        s, "ConversationCleared",
        OBJ("status message", "status", ENUM("", "cleared", NULL), "message", S(NULL), NULL));
    json_object_set_new(
        s, "ConversationBatch",
        OBJ("messages", "messages", ARR(REF("InputMessage")), "conversation_id", SN(NULL), NULL));
    json_object_set_new(s, "BatchSuggestion",
                        OBJ("message suggestion", "message", REF("InputMessage"), "suggestion",
                            REF("OutputSuggestion"), NULL));
    json_object_set_new(s, "BatchAnalysis",
                        OBJ("conversation_id suggestions summary overall_sentiment key_moments",
                            "conversation_id", SN(NULL), "suggestions", ARR(REF("BatchSuggestion")),
                            "summary", REF("ConversationSummary"), "overall_sentiment", S(NULL),
                            "key_moments", ARR(json_object()), NULL));
    json_object_set_new(s, "TranscriptionResult",
                        OBJ("session_id suggestion", "session_id", S(NULL), "suggestion",
                            REF("OutputSuggestion"), NULL));
    json_object_set_new(s, "WsStatus",
                        OBJ("status conversation_messages", "status", ENUM("", "active", NULL),
                            "conversation_messages", I(NULL), "last_speaker", SN(NULL),
                            "last_emotion", SN(NULL), "last_sentiment", SN(NULL), NULL));
}

static void webhooks(json_t *s)
{
    json_object_set_new(s, "WebhookEvent",
                        OBJ("event timestamp data", "event",
                            S("critical_objection, task_completed, task_failed"), "timestamp",
                            S("ISO 8601"), "data", typed("object", NULL), NULL));
    json_object_set_new(
        s, "WebhookDelivery",
        OBJ("id event url status attempts", "id", I(NULL), "event", S(NULL), "url", S(NULL),
            "status", ENUM("", "pending", "delivered", "dead", NULL), "attempts", I(NULL),
            "last_status", IN("HTTP status of the last attempt"), "last_error", SN(NULL),
            "next_attempt_at", TS(), "created_at", TS(), "delivered_at", TS(), NULL));
    json_object_set_new(s, "WebhookDeliveries",
                        OBJ("deliveries", "deliveries", ARR(REF("WebhookDelivery")), NULL));
}

json_t *openapi_schemas(void)
{
    json_t *s = json_object();
    if (!s) return NULL;
    gateway(s);
    rag(s);
    ingestion(s);
    conversation(s);
    webhooks(s);
    return s;
}
