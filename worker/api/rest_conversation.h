/* The REST twins of /ws/conversation (SPEC S8, seed 003). Every route
 * takes ?session_id= (1..64 of [A-Za-z0-9_.:-], else 422), or uses the
 * default session (conversation.default_session; under auth.mode = jwt,
 * "<default>:<sub>" so that each user has their own):
 *
 *   POST /api/process               InputMessage -> suggestion (stored,
 *                                   published to the session's watchers)
 *   POST /api/webhook/transcription ?session_id= required ->
 *                                   {session_id, suggestion}
 *   GET  /api/conversation/context  {context, summary}
 *   GET  /api/conversation/summary  {summary, last_speaker, last_emotion, last_sentiment}
 *   POST /api/conversation/clear    {status:"cleared", message}  (= POST /ws/clear)
 *   GET  /ws/status                 {status:"active", conversation_messages, last_*}
 *   POST /api/analyze-batch         {messages[], conversation_id?} -> the report
 *                                   (rules, in memory: nothing stored)
 *
 * A bad body or query is 422 {"detail":[{type, loc, msg}...]} as FastAPI
 * answers; storage down 503 STORAGE_UNAVAILABLE; another user's session
 * 403 FORBIDDEN. */
#ifndef RAGWS_WORKER_API_REST_CONVERSATION_H
#define RAGWS_WORKER_API_REST_CONVERSATION_H

#include <stddef.h>

#include "protocol/http_parser.h"
#include "worker/net/conn.h"
#include "worker/net/route.h"

#define REST_CONV_FN(name)                                                                         \
    void name(conn_t *c, const http_request_t *req, const route_params_t *params,                  \
              const char *body, size_t len)

REST_CONV_FN(rest_conv_process);
REST_CONV_FN(rest_conv_transcription);
REST_CONV_FN(rest_conv_context);
REST_CONV_FN(rest_conv_summary);
REST_CONV_FN(rest_conv_clear);
REST_CONV_FN(rest_conv_status);
REST_CONV_FN(rest_conv_batch);

#endif
