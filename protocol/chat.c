#include "protocol/chat.h"

#include <stdio.h>
#include <string.h>

#include "protocol/json_msg.h"

/* conversation ids and bot_N message ids */
static int id_ok(const char *s, size_t len) { return name_valid(s, len, 64, "_-."); }

int chat_msg_parse(const char *data, size_t len, chat_msg_t *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    const char *code;
    m->root = json_msg_parse(data, len, &code, err, errlen);
    if (!m->root) return -1;
    json_t *type = json_object_get(m->root, "type");
    if (type && !json_is_string(type)) {
        snprintf(err, errlen, "\"type\" must be a string");
        return -1;
    }
    if (type && strcmp(json_string_value(type), "reaction") == 0) {
        m->kind = CHAT_REACTION;
        json_t *id = json_object_get(m->root, "message_id");
        json_t *r = json_object_get(m->root, "reaction");
        if (!json_is_string(id) || !id_ok(json_string_value(id), json_string_length(id)) ||
            json_string_length(id) >= sizeof m->message_id) {
            snprintf(err, errlen, "reaction: \"message_id\" (e.g. \"bot_1\") is required");
            return -1;
        }
        if (!json_is_string(r) || !json_string_length(r) || json_string_length(r) > 64) {
            snprintf(err, errlen, "reaction: \"reaction\" must be a string of 1 to 64 bytes");
            return -1;
        }
        memcpy(m->message_id, json_string_value(id), json_string_length(id) + 1);
        m->reaction = json_string_value(r);
        return 0;
    }
    if (type && strcmp(json_string_value(type), "message") != 0) {
        snprintf(err, errlen, "unknown message type \"%.64s\" (send {\"message\": ...} or a reaction)",
                 json_string_value(type));
        return -1;
    }
    m->kind = CHAT_MESSAGE;
    json_t *msg = json_object_get(m->root, "message");
    if (!json_is_string(msg)) {
        snprintf(err, errlen, "\"message\" (string) is required");
        return -1;
    }
    size_t mlen = json_string_length(msg);
    const char *s = json_string_value(msg);
    size_t blank = 0;
    while (blank < mlen && (s[blank] == ' ' || s[blank] == '\t' || s[blank] == '\n' || s[blank] == '\r'))
        blank++;
    if (blank == mlen) {
        snprintf(err, errlen, "\"message\" must not be empty");
        return -1;
    }
    if (mlen > CHAT_MAX_CHARS || strlen(s) != mlen) {
        snprintf(err, errlen, "\"message\" must be at most %d bytes of text", CHAT_MAX_CHARS);
        return -1;
    }
    m->message = s;
    json_t *ts = json_object_get(m->root, "timestamp");
    if (ts && !json_is_string(ts) && !json_is_null(ts)) {
        snprintf(err, errlen, "\"timestamp\" must be an ISO 8601 string");
        return -1;
    }
    json_t *cid = json_object_get(m->root, "conversation_id");
    if (cid && !json_is_null(cid)) {
        if (!json_is_string(cid) || !id_ok(json_string_value(cid), json_string_length(cid))) {
            snprintf(err, errlen, "\"conversation_id\": 1 to 64 characters of A-Z a-z 0-9 _ - .");
            return -1;
        }
        memcpy(m->conversation_id, json_string_value(cid), json_string_length(cid) + 1);
    }
    return 0;
}

void chat_msg_free(chat_msg_t *m)
{
    json_decref(m->root);
    m->root = NULL;
}

static char *dump(json_t *o)
{
    char *s = json_msg_dump(o);
    json_decref(o);
    return s;
}

char *chat_chunk(const char *message_id, const char *text, size_t len)
{
    json_t *o = json_pack("{s:s, s:s}", "type", "chunk", "message_id", message_id);
    json_object_set_new(o, "text", json_stringn(text, len));
    return dump(o);
}

char *chat_complete(const char *message_id, const char *conversation_id)
{
    json_t *o = json_pack("{s:s, s:s}", "type", "complete", "message_id", message_id);
    if (conversation_id) json_object_set_new(o, "conversation_id", json_string(conversation_id));
    return dump(o);
}

char *chat_error(const char *message, const char *message_id, const char *code)
{
    json_t *o = json_pack("{s:s, s:s}", "type", "error", "message", message);
    if (message_id) json_object_set_new(o, "message_id", json_string(message_id));
    if (code) json_object_set_new(o, "code", json_string(code));
    return dump(o);
}

char *chat_reaction_saved(const char *message_id, const char *reaction)
{
    return dump(json_pack("{s:s, s:s, s:s}", "type", "reaction_saved", "message_id", message_id,
                          "reaction", reaction));
}
