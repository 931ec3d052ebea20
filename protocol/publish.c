#include "protocol/publish.h"

#include <stdio.h>
#include <string.h>

#include "protocol/json_msg.h"

int publish_parse(const char *data, size_t len, publish_req_t *out, const char **code, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_t *v = json_msg_parse(data, len, code, err, errlen);
    if (!v) return -1;
    *code = ERR_VALIDATION;
    json_t *ch = json_object_get(v, "channel");
    json_t *msg = json_object_get(v, "message");
    int rc = -1;
    if (!json_is_string(ch)) {
        snprintf(err, errlen, "field \"channel\" (string) is required");
    } else if (!channel_name_valid(json_string_value(ch), json_string_length(ch))) {
        snprintf(err, errlen, "field \"channel\": 1 to 64 characters of A-Z a-z 0-9 _ . : -");
    } else if (!json_is_object(msg)) {
        snprintf(err, errlen, "field \"message\" (JSON object) is required");
    } else if (!(out->payload = json_msg_dump(msg))) {
        *code = ERR_INTERNAL;
        snprintf(err, errlen, "out of memory");
    } else {
        out->channel_len = json_string_length(ch);
        memcpy(out->channel, json_string_value(ch), out->channel_len + 1);
        out->payload_len = strlen(out->payload);
        rc = 0;
    }
    json_decref(v);
    return rc;
}
