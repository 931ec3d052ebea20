/* Outbound webhooks on the wire (seed 003 "Scénario 2", SPEC S4.5): the
 * event body, the Standard Webhooks signature, the event data of the
 * ingestion events, and the JSON of GET /api/webhooks/deliveries.
 *
 *   body       {"event":"task_failed","timestamp":"2025-01-31T12:00:00.000Z","data":{...}}
 *   signature  webhook-signature: v1,<base64 of HMAC-SHA256(key, "<id>.<ts>.<body>")>
 *              (https://www.standardwebhooks.com; id and ts are the
 *              webhook-id and webhook-timestamp headers, ts Unix seconds)
 *
 * Every function returning char * returns a malloc'd NUL-terminated text
 * the caller frees, or NULL (invalid input, too large, out of memory).
 * Views hold borrowed strings, read during the call only. */
#ifndef RAGWS_PROTOCOL_WEBHOOK_H
#define RAGWS_PROTOCOL_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

/* The body of an event: data_json must be a JSON object text. NULL when
 * it is not, or when the body would exceed max_bytes. */
char *webhook_body(const char *event, const char *timestamp, const char *data_json,
                   size_t max_bytes);

/* data of task_completed / task_failed: {"task_id","filename",
 * "collection","error"} (error null unless failed; NULL strings: null). */
char *webhook_task_data(int64_t task_id, const char *filename, const char *collection,
                        const char *error);

/* The signing key of a secret file's text (n bytes, trailing whitespace
 * ignored): "whsec_<base64>" is decoded, any other text is the key
 * itself. 0 and *klen, or -1 (empty, bad base64, larger than cap). */
int webhook_secret_key(const char *text, size_t n, unsigned char *key, size_t cap, size_t *klen);

/* "v1,<base64 HMAC-SHA256>" of id "." ts "." body into out (at least
 * WEBHOOK_SIG_MAX bytes). 0, or -1. */
#define WEBHOOK_SIG_MAX 64
int webhook_sign(const unsigned char *key, size_t klen, const char *id, long long ts,
                 const char *body, size_t body_len, char *out, size_t outlen);

/* One row of the outbox as GET /api/webhooks/deliveries lists it. */
typedef struct webhook_delivery_view {
    int64_t id;
    const char *event, *url, *status;
    uint32_t attempts;
    const char *next_attempt_at;           /* ISO 8601 UTC; NULL once delivered or dead */
    const char *last_error;                /* may be NULL */
    int last_status;                       /* 0: no HTTP answer yet */
    const char *created_at, *delivered_at; /* delivered_at may be NULL */
    const char *body;                      /* the event body; listed as "payload" */
} webhook_delivery_view_t;

/* {"deliveries":[{"id","webhook_id","event","url","status","attempts",
 * "next_attempt_at","last_error","last_status","created_at",
 * "delivered_at","payload"}...]}. */
char *webhook_deliveries_encode(const webhook_delivery_view_t *v, size_t n);

#endif
