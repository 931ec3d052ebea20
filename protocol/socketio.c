#include "protocol/socketio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/json_msg.h"

int sio_decode(const char *s, size_t len, sio_packet_t *p, const char **code, char *err,
               size_t errlen)
{
    memset(p, 0, sizeof *p);
    *code = ERR_VALIDATION;
    p->ack_id = -1;
    snprintf(p->nsp, sizeof p->nsp, "/");
    if (!len || s[0] < '0' || s[0] > '6') {
        snprintf(err, errlen, "unknown Socket.IO packet type");
        return -1;
    }
    p->type = s[0] - '0';
    size_t i = 1;
    if (p->type == SIO_BINARY_EVENT || p->type == SIO_BINARY_ACK) {
        return 0; /* attachments are not supported; the caller answers */
    }
    if (i < len && s[i] == '/') {
        size_t start = i;
        while (i < len && s[i] != ',') i++;
        size_t n = i - start;
        if (n >= sizeof p->nsp) {
            snprintf(err, errlen, "namespace too long");
            return -1;
        }
        memcpy(p->nsp, s + start, n);
        p->nsp[n] = 0;
        if (i < len) i++; /* the ',' */
    }
    if (i < len && s[i] >= '0' && s[i] <= '9') {
        int64_t id = 0;
        int digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (++digits > 15) {
                snprintf(err, errlen, "ack id too long");
                return -1;
            }
            id = id * 10 + (s[i++] - '0');
        }
        p->ack_id = id;
    }
    if (i < len) {
        json_error_t je;
        p->data = json_loadb(s + i, len - i, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (!p->data) {
            *code = ERR_INVALID_JSON;
            utf8_snprintf(err, errlen, "invalid JSON in packet: %s", je.text);
            return -1;
        }
    }
    switch (p->type) {
    case SIO_EVENT:
        if (!json_is_array(p->data) || !json_array_size(p->data) ||
            !json_is_string(json_array_get(p->data, 0))) {
            snprintf(err, errlen, "an event is [\"name\", ...args]");
            return -1;
        }
        p->event = json_string_value(json_array_get(p->data, 0));
        break;
    case SIO_ACK:
        if (p->ack_id < 0 || !json_is_array(p->data)) {
            snprintf(err, errlen, "an ack is <id>[...args]");
            return -1;
        }
        break;
    case SIO_CONNECT:
        if (p->data && !json_is_object(p->data)) {
            snprintf(err, errlen, "connect auth must be an object");
            return -1;
        }
        break;
    default: break;
    }
    return 0;
}

void sio_packet_free(sio_packet_t *p)
{
    json_decref(p->data);
    p->data = NULL;
}

/* prefix + JSON of v; NULL when v cannot be encoded. */
static char *prefixed(const char *prefix, json_t *v)
{
    char *body = json_msg_dump(v);
    if (!body) return NULL;
    size_t n = strlen(prefix), m = strlen(body);
    char *out = malloc(n + m + 1);
    if (!out) {
        free(body);
        return NULL;
    }
    memcpy(out, prefix, n);
    memcpy(out + n, body, m + 1);
    free(body);
    return out;
}

char *sio_event(const char *event, json_t *data)
{
    json_t *arr = json_pack("[s, O]", event, data ? data : json_null());
    char *s = prefixed("42", arr);
    json_decref(arr);
    return s;
}

char *sio_ack(int64_t id, json_t *data)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "43%lld", (long long)id);
    json_t *arr = json_pack("[O]", data ? data : json_null());
    char *s = prefixed(prefix, arr);
    json_decref(arr);
    return s;
}

char *sio_connect_ok(const char *sid)
{
    json_t *o = json_pack("{s:s}", "sid", sid);
    char *s = prefixed("40", o);
    json_decref(o);
    return s;
}

json_t *sio_error_data(const char *code, const char *message, json_t *chat_id)
{
    json_t *d = json_pack("{s:o, s:s}", "message", json_msg_text(message), "code",
                          code ? code : ERR_INTERNAL);
    if (!d) return json_pack("{s:s, s:s}", "message", "internal error", "code", ERR_INTERNAL);
    if (chat_id) json_object_set(d, "chat_id", chat_id);
    return d;
}

char *sio_connect_error(const char *nsp, const char *message)
{
    json_t *o = json_pack("{s:o}", "message", json_msg_text(message));
    char prefix[160] = "44";
    /* the namespace is client text, echoed raw: cut and scrubbed */
    if (nsp && strcmp(nsp, "/") != 0)
        utf8_snprintf(prefix, sizeof prefix, "44%.*s,", (int)utf8_prefix(nsp, strlen(nsp), 120),
                      nsp);
    char *s = prefixed(prefix, o);
    json_decref(o);
    return s;
}

char *eio_open(const char *sid, int allow_upgrade, uint32_t ping_interval_ms,
               uint32_t ping_timeout_ms, uint32_t max_payload)
{
    json_t *ups = json_array();
    if (allow_upgrade) json_array_append_new(ups, json_string("websocket"));
    json_t *o = json_pack("{s:s, s:o, s:I, s:I, s:I}", "sid", sid, "upgrades", ups, "pingInterval",
                          (json_int_t)ping_interval_ms, "pingTimeout", (json_int_t)ping_timeout_ms,
                          "maxPayload", (json_int_t)max_payload);
    char *s = prefixed("0", o);
    json_decref(o);
    return s;
}

char *eio_error_body(int code, const char *message)
{
    return json_msg_dump_free(
        json_pack("{s:i, s:o}", "code", code, "message", json_msg_text(message)));
}

json_t *sio_status_data(const char *sid)
{
    return json_pack("{s:s, s:o}", "status", "connected", "sid", json_msg_text(sid));
}

json_t *sio_project_data(json_t *project_id)
{
    return json_pack("{s:O}", "project_id", project_id ? project_id : json_null());
}

json_t *sio_timestamp_data(uint64_t ms) { return json_pack("{s:I}", "timestamp", (json_int_t)ms); }

json_t *sio_resync_data(const char *channel, uint64_t missed)
{
    return json_pack("{s:o, s:I}", "channel", json_msg_text(channel), "missed", (json_int_t)missed);
}

json_t *sio_metadata_data(uint64_t connected_at_ms, json_t *project_id, json_t *chat_id)
{
    return json_pack("{s:I, s:O, s:O}", "connected_at", (json_int_t)connected_at_ms, "project_id",
                     project_id ? project_id : json_null(), "chat_id",
                     chat_id ? chat_id : json_null());
}

json_t *sio_chat_data(json_t *chat_id)
{
    return json_pack("{s:O}", "chat_id", chat_id ? chat_id : json_null());
}

json_t *sio_accepted_data(json_t *chat_id)
{
    return json_pack("{s:s, s:O}", "status", "accepted", "chat_id",
                     chat_id ? chat_id : json_null());
}

json_t *sio_source(int64_t chunk_id, int64_t document_id, const char *filename, int page,
                   const char *content, double score)
{
    char id[40];
    snprintf(id, sizeof id, "chunk_%lld", (long long)chunk_id);
    json_t *meta =
        json_pack("{s:I, s:o, s:o}", "document_id", (json_int_t)document_id, "filename",
                  json_msg_text(filename), "page", page ? json_integer(page) : json_null());
    return json_pack("{s:s, s:o, s:o, s:f}", "id", id, "content", json_msg_text(content),
                     "metadata", meta, "score", score);
}

json_t *sio_sources_data(json_t *chat_id, json_t *sources)
{
    return json_pack("{s:O, s:o}", "chat_id", chat_id ? chat_id : json_null(), "sources",
                     sources ? sources : json_array());
}

json_t *sio_token_data(json_t *chat_id, const char *text, size_t len)
{
    return json_pack("{s:O, s:o}", "chat_id", chat_id ? chat_id : json_null(), "token",
                     json_msg_textn(text, len));
}

json_t *sio_complete_data(json_t *chat_id, const char *model, int sources_count, int64_t message_id)
{
    return json_pack("{s:O, s:{s:o, s:i, s:I}}", "chat_id", chat_id ? chat_id : json_null(),
                     "metadata", "model", json_msg_text(model), "sources_count", sources_count,
                     "message_id", (json_int_t)message_id);
}

long eio_next_packet(const char *body, size_t len, size_t *pos)
{
    if (*pos >= len) return -1;
    const char *start = body + *pos;
    const char *sep = memchr(start, EIO_SEPARATOR, len - *pos);
    size_t n = sep ? (size_t)(sep - start) : len - *pos;
    *pos += n + (sep ? 1 : 0);
    return (long)n;
}
