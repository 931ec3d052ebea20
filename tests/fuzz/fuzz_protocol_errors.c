/* libFuzzer target: every client-message decoder of protocol/, followed by
 * the encoder of the answer the endpoint sends for the result -- the error
 * message (quoting the client's text when it does) or the success
 * encoding. Invariants: each encoder returns non-NULL, valid JSON (parsed
 * back with json_loads), errors carry a code and a non-empty message, and
 * quoted client text is cut on a character boundary (jansson rejects a
 * string cut inside a character, so an invalid cut fails json_loads or the
 * encoder). The input also feeds the utf8 helpers directly, the
 * ingestion event encoders (a text that is not UTF-8 gives NULL, any other
 * gives valid JSON) and the worker-to-worker control parser. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/apiv1.h"
#include "protocol/chat.h"
#include "protocol/envelope.h"
#include "protocol/ingest_events.h"
#include "protocol/json_msg.h"
#include "protocol/monitor.h"
#include "protocol/publish.h"
#include "protocol/query.h"
#include "protocol/socketio.h"
#include "base/utf8.h"

/* text must be valid JSON; returns it parsed (caller decrefs). */
static json_t *must_parse(const char *text, size_t skip)
{
    if (!text || strlen(text) < skip) abort();
    json_t *v = json_loads(text + skip, JSON_DECODE_ANY, NULL);
    if (!v) abort();
    return v;
}

/* An error object must hold a string code and a non-empty message. */
static void check_error_fields(json_t *o)
{
    const char *m = json_string_value(json_object_get(o, "message"));
    const char *c = json_string_value(json_object_get(o, "code"));
    if (!m || !m[0] || !c || !c[0]) abort();
}

static void check_envelope_error(char *s)
{
    json_t *v = must_parse(s, 0);
    if (!json_object_get(v, "request_id")) abort(); /* always present */
    check_error_fields(json_object_get(v, "data"));
    json_decref(v);
    free(s);
}

static void check_chat_error(char *s)
{
    json_t *v = must_parse(s, 0);
    check_error_fields(v);
    json_decref(v);
    free(s);
}

static void check_apiv1_error(char *s)
{
    json_t *v = must_parse(s, 0);
    check_error_fields(json_object_get(v, "content"));
    json_decref(v);
    free(s);
}

static void check_valid(char *s, size_t skip)
{
    json_decref(must_parse(s, skip));
    free(s);
}

/* /ws/query: the error, or what a query/config/control is answered with. */
static void fuzz_query(const char *d, size_t n)
{
    query_msg_t q;
    const char *code = NULL;
    char err[256];
    if (query_msg_parse(d, n, &q, &code, err, sizeof err) < 0) {
        check_envelope_error(query_error(q.request_id, code, err, "validation", 1));
    } else if (q.kind == QMSG_QUERY) {
        const char *ents[1] = {q.query};
        check_valid(query_status(q.request_id, "analyzing_query", 0.1, q.query), 0);
        check_valid(query_token(q.request_id, q.query, strlen(q.query), 3, 0), 0);
        check_valid(query_citation(q.request_id, 1, q.collection, 2, 0.5, q.query), 0);
        check_valid(query_complete(q.request_id, 0.25, 3, 1, q.mode, "other", ents, 1, q.query, 7),
                    0);
    } else if (q.kind == QMSG_CONFIG) {
        check_valid(query_config_updated(q.request_id, q.response_format, q.language,
                                         q.has_temperature ? q.temperature : -1),
                    0);
    } else {
        check_envelope_error(
            query_error(q.request_id, "UNKNOWN_REQUEST_ID", q.action, "validation", 1));
    }
    query_msg_free(&q);
    if (query_parse_data(d, n, &q, &code, err, sizeof err) < 0)
        check_envelope_error(query_error(NULL, code, err, "validation", 1));
    query_msg_free(&q);
}

/* /chat/ws: the error, or the chunk/complete/reaction_saved answer. */
static void fuzz_chat(const char *d, size_t n)
{
    chat_msg_t c;
    const char *code = NULL;
    char err[256];
    if (chat_msg_parse(d, n, &c, &code, err, sizeof err) < 0) {
        check_chat_error(chat_error(err, NULL, code));
    } else if (c.kind == CHAT_MESSAGE) {
        check_valid(chat_chunk("bot_1", c.message, strlen(c.message)), 0);
        check_valid(chat_complete("bot_1", c.conversation_id[0] ? c.conversation_id : NULL), 0);
    } else {
        check_valid(chat_reaction_saved(c.message_id, c.reaction), 0);
        check_chat_error(
            chat_error("no answer with this message_id", c.message_id, "UNKNOWN_MESSAGE_ID"));
    }
    chat_msg_free(&c);
}

/* /api/v1/ws and /ws/monitor decode with json_msg_parse and json_msg_type,
 * then quote an unknown type. */
static void fuzz_typed(const char *d, size_t n)
{
    const char *code = NULL;
    char err[256];
    json_t *v = json_msg_parse(d, n, &code, err, sizeof err);
    if (!v) {
        check_apiv1_error(apiv1_error(code, err));
        check_envelope_error(envelope_error(NULL, code, err, NULL, 1));
        return;
    }
    const char *type = json_msg_type(v, err, sizeof err);
    if (!type) {
        check_apiv1_error(apiv1_error(ERR_VALIDATION, err));
    } else {
        char m[256];
        utf8_snprintf(m, sizeof m, "unknown message type \"%.*s\" (query or ping)", QUOTE(type));
        check_apiv1_error(apiv1_error(ERR_UNKNOWN_TYPE, m));
        check_envelope_error(envelope_error(NULL, ERR_UNKNOWN_TYPE, m, NULL, 1));
        /* the answer of a query quotes the question back in the sources */
        json_t *q = json_object_get(json_object_get(v, "content"), "question");
        if (json_is_string(q)) {
            json_t *src = json_pack("[{s:o}]", "content", json_msg_text(json_string_value(q)));
            check_valid(apiv1_response(json_string_value(q), src), 0);
            json_decref(src);
        }
    }
    json_decref(v);
}

/* /ws/publish and POST /api/broadcast. */
static void fuzz_publish(const char *d, size_t n)
{
    publish_req_t p;
    const char *code = NULL;
    char err[256];
    if (publish_parse(d, n, &p, &code, err, sizeof err) < 0) {
        check_envelope_error(envelope_error(NULL, code, err, NULL, 1));
        return;
    }
    json_decref(must_parse(p.payload, 0));
    free(p.payload);
}

/* Socket.IO: the "error" event (and ack) for a bad packet or an unknown
 * event, as worker/sio.c formats them. */
static void fuzz_socketio(const char *d, size_t n)
{
    sio_packet_t p;
    const char *code = NULL;
    char err[160], msg[200];
    json_t *data = NULL;
    if (sio_decode(d, n, &p, &code, err, sizeof err) < 0) {
        utf8_snprintf(msg, sizeof msg, "malformed packet: %s", err);
        data = sio_error_data(code, msg, NULL);
    } else if (p.type == SIO_EVENT) {
        utf8_snprintf(msg, sizeof msg, "unknown event \"%.*s\"", QUOTE(p.event));
        data = sio_error_data(ERR_UNKNOWN_TYPE, msg, json_array_get(p.data, 1));
    } else if (p.type == SIO_CONNECT) {
        /* 44{..} or 44/nsp,{..}: the namespace is echoed raw, so it must
         * be valid UTF-8 too */
        char *ce = sio_connect_error(p.nsp, "Invalid namespace");
        const char *comma = ce ? strchr(ce, ',') : NULL;
        if (!ce || !utf8_valid(ce, strlen(ce), NULL)) abort();
        check_valid(ce, strcmp(p.nsp, "/") && comma ? (size_t)(comma - ce) + 1 : 2);
    }
    if (data) {
        check_error_fields(data);
        char *ev = sio_event("error", data);
        json_t *arr = must_parse(ev, 2);
        check_error_fields(json_array_get(arr, 1));
        json_decref(arr);
        free(ev);
        char *ack = sio_ack(p.ack_id < 0 ? 1 : p.ack_id, data);
        check_valid(ack, ack ? strspn(ack, "0123456789") : 0); /* "43<id>" */
        json_decref(data);
    }
    sio_packet_free(&p);
}

/* The helpers themselves: whatever the bytes, the results are valid. */
static void fuzz_utf8(const char *d, size_t n)
{
    char *c = malloc(n + 1);
    if (!c) return;
    memcpy(c, d, n);
    c[n] = 0;
    for (size_t max = 0; max <= n && max < 70; max += 7) {
        size_t k = utf8_prefix(c, n, max);
        if (k > max || (utf8_valid(c, n, NULL) && !utf8_valid(c, k, NULL))) abort();
    }
    char out[48];
    size_t w = utf8_snprintf(out, sizeof out, "x%sy", c);
    if (w >= sizeof out || strlen(out) != w || !utf8_valid(out, w, NULL)) abort();
    json_t *t = json_msg_text(c);
    char *s = json_msg_dump(t);
    if (!s) abort();
    json_decref(must_parse(s, 0));
    free(s);
    json_decref(t);
    /* monitor messages quote service names and alert texts */
    check_valid(monitor_error_alert("2025-01-01T00:00:00.000Z", "warning", c, c, NULL), 0);
    utf8_scrub(c, n);
    if (!utf8_valid(c, n, NULL)) abort();
    free(c);
}

/* Ingestion events quote file names, collections, stages and log lines
 * as given: NULL exactly when the text is not UTF-8, else valid JSON. */
static void check_event(char *s, int valid)
{
    if (!valid) {
        if (s) abort();
        return;
    }
    check_valid(s, 0);
}

static void fuzz_ingest(const char *d, size_t n)
{
    char op[16];
    int64_t id = 0;
    if (ingest_control_parse(d, n, op, sizeof op, &id) == 0) {
        char *again = ingest_control(op, id);
        if (!again) abort();
        if (ingest_control_parse(again, strlen(again), op, sizeof op, &id) != 0) abort();
        free(again);
    }
    char *c = malloc(n + 1);
    if (!c) return;
    memcpy(c, d, n);
    c[n] = 0;
    int ok = utf8_valid(c, strlen(c), NULL);
    const char *ts = "2025-01-01T00:00:00.000Z";
    check_event(ingest_upload_started("upload_0", c, (int64_t)n - 1, (double)n), ok);
    check_event(ingest_upload_progress(c, "f", n, (int64_t)n * 2 - 1, 1.5), ok);
    check_event(ingest_processing_progress("u", "f", "ocr", (double)n / 7, c), ok);
    check_event(ingest_chunking_progress("u", c, n, n / 2), ok);
    check_event(ingest_upload_complete("u", "f", (int64_t)n, 1, n, "failed", c), ok);
    check_event(ingest_document_added(c, 1, c, n, ts), ok);
    check_event(ingest_collection_stats(c, n, n, (double)n / 3, ts), ok);
    check_event(ingest_task_log((int64_t)n, "info", c, ts), ok);
    check_event(ingest_notification(ts, "warning", "threshold_exceeded", c, 0), ok);
    ingest_task_view_t t = {.id = 1, .filename = c, .status = "queued", .created_at = (double)n};
    check_event(ingest_task_update(&t), ok);
    char ch[300];
    if (ingest_channel(ch, sizeof ch, INGEST_CH_UPLOAD, c) >= 0 && strlen(ch) > 255) abort();
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    fuzz_query(d, size);
    fuzz_chat(d, size);
    fuzz_typed(d, size);
    fuzz_publish(d, size);
    if (size && d[0] == '4')
        fuzz_socketio(d + 1, size - 1);
    else
        fuzz_socketio(d, size);
    fuzz_utf8(d, size);
    fuzz_ingest(d, size);
    return 0;
}
