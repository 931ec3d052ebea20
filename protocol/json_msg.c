#include "protocol/json_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

json_t *json_msg_parse(const char *data, size_t len, const char **code, char *err, size_t errlen)
{
    json_error_t je;
    /* JSON_REJECT_DUPLICATES: an object with two "type" keys is ambiguous. */
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!v) {
        *code = ERR_INVALID_JSON;
        /* jansson's text may quote a few input bytes: keep it valid */
        utf8_snprintf(err, errlen, "invalid JSON at line %d, column %d: %s", je.line, je.column,
                      je.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        *code = ERR_VALIDATION;
        snprintf(err, errlen, "message must be a JSON object");
        json_decref(v);
        return NULL;
    }
    return v;
}

const char *json_msg_type(json_t *msg, char *err, size_t errlen)
{
    json_t *t = json_object_get(msg, "type");
    if (!t) {
        snprintf(err, errlen, "field \"type\" is required");
        return NULL;
    }
    if (!json_is_string(t)) {
        snprintf(err, errlen, "field \"type\" must be a string");
        return NULL;
    }
    return json_string_value(t);
}

int name_valid(const char *s, size_t len, size_t max, const char *punct)
{
    if (len == 0 || len > max) return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 (ch && strchr(punct, ch));
        if (!ok) return 0;
    }
    return 1;
}

int channel_name_valid(const char *s, size_t len)
{
    return name_valid(s, len, CHANNEL_MAX_LEN, "_.:-");
}

char *json_msg_dump(const json_t *v) { return v ? json_dumps(v, JSON_MSG_WIRE_FLAGS) : NULL; }

char *json_msg_dump_free(json_t *o)
{
    char *s = json_msg_dump(o);
    json_decref(o);
    return s;
}

json_t *json_msg_text(const char *s) { return json_msg_textn(s ? s : "", s ? strlen(s) : 0); }

json_t *json_msg_textn(const char *s, size_t n)
{
    if (utf8_valid(s, n, NULL)) return json_stringn(s, n);
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, s, n); /* s need not be NUL-terminated */
    c[n] = 0;
    utf8_scrub(c, n);
    json_t *j = json_stringn(c, n);
    free(c);
    return j;
}
