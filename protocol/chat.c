#include "protocol/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/json_msg.h"

/* conversation ids and bot_N message ids */
static int id_ok(const char *s, size_t len) { return name_valid(s, len, 64, "_-."); }

#define BAD(c, ...)                                                                                \
    do {                                                                                           \
        *code = (c);                                                                               \
        utf8_snprintf(err, errlen, __VA_ARGS__);                                                   \
        return -1;                                                                                 \
    } while (0)

static int parse_reaction(chat_msg_t *m, const char **code, char *err, size_t errlen)
{
    m->kind = CHAT_REACTION;
    json_t *id = json_object_get(m->root, "message_id");
    json_t *r = json_object_get(m->root, "reaction");
    if (!json_is_string(id) || !id_ok(json_string_value(id), json_string_length(id)) ||
        json_string_length(id) >= sizeof m->message_id)
        BAD(ERR_VALIDATION, "reaction: \"message_id\" (e.g. \"bot_1\") is required");
    if (!json_is_string(r) || !json_string_length(r) || json_string_length(r) > 64 ||
        strlen(json_string_value(r)) != json_string_length(r))
        BAD(ERR_VALIDATION, "reaction: \"reaction\" must be a string of 1 to 64 bytes");
    memcpy(m->message_id, json_string_value(id), json_string_length(id) + 1);
    m->reaction = json_string_value(r);
    return 0;
}

static int parse_message(chat_msg_t *m, const char **code, char *err, size_t errlen)
{
    m->kind = CHAT_MESSAGE;
    json_t *msg = json_object_get(m->root, "message");
    if (!json_is_string(msg)) BAD(ERR_VALIDATION, "\"message\" (string) is required");
    size_t mlen = json_string_length(msg);
    const char *s = json_string_value(msg);
    size_t blank = 0;
    while (blank < mlen &&
           (s[blank] == ' ' || s[blank] == '\t' || s[blank] == '\n' || s[blank] == '\r'))
        blank++;
    if (blank == mlen) BAD(ERR_VALIDATION, "\"message\" must not be empty");
    if (mlen > CHAT_MAX_CHARS || strlen(s) != mlen)
        BAD(ERR_VALIDATION, "\"message\" must be at most %d bytes of text", CHAT_MAX_CHARS);
    m->message = s;
    json_t *ts = json_object_get(m->root, "timestamp");
    if (ts && !json_is_string(ts) && !json_is_null(ts))
        BAD(ERR_VALIDATION, "\"timestamp\" must be an ISO 8601 string");
    json_t *cid = json_object_get(m->root, "conversation_id");
    if (cid && !json_is_null(cid)) {
        if (!json_is_string(cid) || !id_ok(json_string_value(cid), json_string_length(cid)))
            BAD(ERR_VALIDATION, "\"conversation_id\": 1 to 64 characters of A-Z a-z 0-9 _ - .");
        memcpy(m->conversation_id, json_string_value(cid), json_string_length(cid) + 1);
    }
    return 0;
}

int chat_msg_parse(const char *data, size_t len, chat_msg_t *m, const char **code, char *err,
                   size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->root = json_msg_parse(data, len, code, err, errlen);
    if (!m->root) return -1;
    json_t *type = json_object_get(m->root, "type");
    if (type && !json_is_string(type)) BAD(ERR_VALIDATION, "\"type\" must be a string");
    const char *t = type ? json_string_value(type) : "message";
    if (strcmp(t, "reaction") == 0) return parse_reaction(m, code, err, errlen);
    if (strcmp(t, "message") != 0)
        BAD(ERR_UNKNOWN_TYPE,
            "unknown message type \"%.*s\" (send {\"message\": ...} or a reaction)", QUOTE(t));
    return parse_message(m, code, err, errlen);
}

void chat_msg_free(chat_msg_t *m)
{
    json_decref(m->root);
    m->root = NULL;
}

char *chat_chunk(const char *message_id, const char *text, size_t len)
{
    json_t *o = json_pack("{s:s, s:s, s:o}", "type", "chunk", "message_id", message_id, "text",
                          json_msg_textn(text, len));
    return json_msg_dump_free(o);
}

char *chat_complete(const char *message_id, const char *conversation_id)
{
    json_t *o = json_pack("{s:s, s:s}", "type", "complete", "message_id", message_id);
    if (o && conversation_id)
        json_object_set_new(o, "conversation_id", json_msg_text(conversation_id));
    return json_msg_dump_free(o);
}

/* Sent when the error itself cannot be encoded (out of memory). */
static const char CHAT_FALLBACK[] =
    "{\"type\":\"error\",\"message\":\"internal error\",\"code\":\"INTERNAL_ERROR\"}";

char *chat_error(const char *message, const char *message_id, const char *code)
{
    json_t *o = json_pack("{s:s, s:o, s:s}", "type", "error", "message", json_msg_text(message),
                          "code", code ? code : ERR_INTERNAL);
    if (o && message_id) json_object_set_new(o, "message_id", json_msg_text(message_id));
    char *s = json_msg_dump_free(o);
    return s ? s : strdup(CHAT_FALLBACK);
}

char *chat_reaction_saved(const char *message_id, const char *reaction)
{
    return json_msg_dump_free(json_pack("{s:s, s:o, s:o}", "type", "reaction_saved", "message_id",
                                        json_msg_text(message_id), "reaction",
                                        json_msg_text(reaction)));
}
