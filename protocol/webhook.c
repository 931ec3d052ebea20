/* Outbound webhook bodies, signatures and listings (see webhook.h). */
#include "protocol/webhook.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/json_msg.h"

char *webhook_body(const char *event, const char *timestamp, const char *data_json,
                   size_t max_bytes)
{
    json_t *data = data_json ? json_loads(data_json, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!json_is_object(data)) {
        json_decref(data);
        return NULL;
    }
    char *s = json_msg_dump_free(json_pack("{s:o, s:s, s:o}", "event", json_msg_text(event),
                                           "timestamp", timestamp, "data", data));
    if (s && strlen(s) > max_bytes) {
        free(s);
        s = NULL;
    }
    return s;
}

static json_t *text_or_null(const char *s) { return s ? json_msg_text(s) : json_null(); }

char *webhook_task_data(int64_t task_id, const char *filename, const char *collection,
                        const char *error)
{
    return json_msg_dump_free(json_pack("{s:I, s:o, s:o, s:o}", "task_id", (json_int_t)task_id,
                                        "filename", text_or_null(filename), "collection",
                                        text_or_null(collection), "error", text_or_null(error)));
}

int webhook_secret_key(const char *text, size_t n, unsigned char *key, size_t cap, size_t *klen)
{
    while (n && isspace((unsigned char)text[n - 1])) n--;
    if (n > 6 && memcmp(text, "whsec_", 6) == 0) {
        text += 6;
        n -= 6;
        /* EVP_DecodeBlock wants whole quads and counts padding as bytes. */
        if (n % 4 || n / 4 * 3 > cap) return -1;
        int m = EVP_DecodeBlock(key, (const unsigned char *)text, (int)n);
        if (m < 0) return -1;
        size_t pad = (n && text[n - 1] == '=') + (n > 1 && text[n - 2] == '=');
        *klen = (size_t)m - pad;
        return *klen ? 0 : -1;
    }
    if (!n || n > cap) return -1;
    memcpy(key, text, n);
    *klen = n;
    return 0;
}

int webhook_sign(const unsigned char *key, size_t klen, const char *id, long long ts,
                 const char *body, size_t body_len, char *out, size_t outlen)
{
    char head[160];
    int hn = snprintf(head, sizeof head, "%s.%lld.", id, ts);
    if (hn < 0 || (size_t)hn >= sizeof head || outlen < WEBHOOK_SIG_MAX) return -1;
    /* HMAC() in one call (HMAC_CTX is deprecated in OpenSSL 3). */
    unsigned char *msg = malloc((size_t)hn + body_len + 1);
    if (!msg) return -1;
    memcpy(msg, head, (size_t)hn);
    memcpy(msg + hn, body, body_len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    int ok = HMAC(EVP_sha256(), key, (int)klen, msg, (size_t)hn + body_len, mac, &mlen) != NULL;
    free(msg);
    if (!ok) return -1;
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)mlen); /* 44 chars and NUL */
    return 0;
}

static json_t *delivery_json(const webhook_delivery_view_t *v)
{
    char wid[32];
    snprintf(wid, sizeof wid, "msg_%lld", (long long)v->id);
    json_t *payload = v->body ? json_loads(v->body, 0, NULL) : NULL;
    if (!payload) payload = text_or_null(v->body);
    return json_pack("{s:I, s:s, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)v->id, "webhook_id", wid, "event", json_msg_text(v->event), "url",
                     json_msg_text(v->url), "status", json_msg_text(v->status), "attempts",
                     (int)v->attempts, "next_attempt_at", text_or_null(v->next_attempt_at),
                     "last_error", text_or_null(v->last_error), "last_status",
                     v->last_status ? json_integer(v->last_status) : json_null(), "created_at",
                     text_or_null(v->created_at), "delivered_at", text_or_null(v->delivered_at),
                     "payload", payload);
}

char *webhook_deliveries_encode(const webhook_delivery_view_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *o = delivery_json(&v[i]);
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return json_msg_dump_free(a ? json_pack("{s:o}", "deliveries", a) : NULL);
}
