/* protocol/webhook.c: the Standard Webhooks signature (the spec's own test
 * vector, and a key that is not whsec_), secrets, event bodies and the
 * deliveries listing. */
#include "tests/unit/unit.h"
#include "tests/unit/protocol/json_check.h"
#include "protocol/webhook.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

/* From the Standard Webhooks specification's examples (and the svix
 * libraries' tests). */
#define SPEC_SECRET  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SPEC_ID      "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_TS      1614265330LL
#define SPEC_PAYLOAD "{\"test\": 2432232314}"
#define SPEC_SIG     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static void test_spec_vector(void)
{
    unsigned char key[256];
    size_t klen = 0;
    CHECK_EQ_INT(
        webhook_secret_key(SPEC_SECRET "\n", strlen(SPEC_SECRET) + 1, key, sizeof key, &klen), 0);
    CHECK_EQ_INT(klen, 24);
    char sig[WEBHOOK_SIG_MAX];
    CHECK_EQ_INT(webhook_sign(key, klen, SPEC_ID, SPEC_TS, SPEC_PAYLOAD, strlen(SPEC_PAYLOAD), sig,
                              sizeof sig),
                 0);
    CHECK_EQ_STR(sig, SPEC_SIG);
    /* Another timestamp or body: another signature. */
    CHECK_EQ_INT(webhook_sign(key, klen, SPEC_ID, SPEC_TS + 1, SPEC_PAYLOAD, strlen(SPEC_PAYLOAD),
                              sig, sizeof sig),
                 0);
    CHECK(strcmp(sig, SPEC_SIG) != 0);
}

static void test_raw_key(void)
{
    /* HMAC-SHA256("clé secrète 🔑", "msg_7.1700000000.{}"), computed with
     * `openssl dgst -sha256 -hmac ... -binary | base64`. */
    const char *secret = "clé secrète 🔑\n";
    unsigned char key[256];
    size_t klen = 0;
    CHECK_EQ_INT(webhook_secret_key(secret, strlen(secret), key, sizeof key, &klen), 0);
    CHECK_EQ_INT(klen, strlen(secret) - 1);
    char sig[WEBHOOK_SIG_MAX];
    CHECK_EQ_INT(webhook_sign(key, klen, "msg_7", 1700000000LL, "{}", 2, sig, sizeof sig), 0);
    char cmd[512], want[128] = "v1,";
    snprintf(cmd, sizeof cmd,
             "printf '%%s' 'msg_7.1700000000.{}' | openssl dgst -sha256 -hmac '%.*s' -binary "
             "| base64",
             (int)klen, secret);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (p) {
        CHECK(fgets(want + 3, sizeof want - 3, p) != NULL);
        pclose(p);
        want[strcspn(want, "\n")] = '\0';
        CHECK_EQ_STR(sig, want);
    }
}

static void test_bad_secrets(void)
{
    unsigned char key[16];
    size_t klen;
    CHECK_EQ_INT(webhook_secret_key("", 0, key, sizeof key, &klen), -1);
    CHECK_EQ_INT(webhook_secret_key(" \n", 2, key, sizeof key, &klen), -1);
    CHECK_EQ_INT(webhook_secret_key("whsec_abc", 9, key, sizeof key, &klen), -1); /* not quads */
    CHECK_EQ_INT(webhook_secret_key("whsec_!!!!", 10, key, sizeof key, &klen), -1);
    const char *big = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"; /* 24 bytes > 16 */
    CHECK_EQ_INT(webhook_secret_key(big, strlen(big), key, sizeof key, &klen), -1);
    CHECK_EQ_INT(webhook_secret_key("whsec_YWI=", 10, key, sizeof key, &klen), 0);
    CHECK_EQ_INT(klen, 2);
    CHECK(memcmp(key, "ab", 2) == 0);
}

static void test_body(void)
{
    char *data = webhook_task_data(42, "Résumé de l'été 🎉.txt", "docs-fr", NULL);
    CHECK(data != NULL);
    char *b = webhook_body("task_completed", "2025-01-31T12:00:00.000Z", data, 65536);
    CHECK(b != NULL);
    json_t *o = json_loads(b, 0, NULL);
    CHECK(o != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(o, "event")), "task_completed");
    CHECK_EQ_STR(json_string_value(json_object_get(o, "timestamp")), "2025-01-31T12:00:00.000Z");
    json_t *d = json_object_get(o, "data");
    CHECK_EQ_INT(json_integer_value(json_object_get(d, "task_id")), 42);
    CHECK_EQ_STR(json_string_value(json_object_get(d, "filename")), "Résumé de l'été 🎉.txt");
    CHECK(json_is_null(json_object_get(d, "error")));
    CHECK_EQ_INT(json_object_size(o), 3);
    json_decref(o);
    CHECK(webhook_body("task_completed", "t", data, 20) == NULL); /* too large */
    CHECK(webhook_body("e", "t", "[1]", 1000) == NULL);           /* not an object */
    CHECK(webhook_body("e", "t", "{\"a\":", 1000) == NULL);
    free(b);
    free(data);
}

static void test_listing(void)
{
    webhook_delivery_view_t v[2] = {
        {.id = 7,
         .event = "task_failed",
         .url = "http://h/x",
         .status = "dead",
         .attempts = 3,
         .last_error = "HTTP 500: boom",
         .last_status = 500,
         .created_at = "c",
         .body = "{\"event\":\"task_failed\"}"},
        {.id = 8,
         .event = "task_completed",
         .url = "http://h/y",
         .status = "pending",
         .next_attempt_at = "n",
         .created_at = "c",
         .body = "not json"},
    };
    char *s = webhook_deliveries_encode(v, 2);
    CHECK(s != NULL);
    json_t *o = json_loads(s, 0, NULL);
    json_t *a = json_object_get(o, "deliveries");
    CHECK_EQ_INT(json_array_size(a), 2);
    json_t *d = json_array_get(a, 0);
    CHECK_EQ_STR(json_string_value(json_object_get(d, "webhook_id")), "msg_7");
    CHECK_EQ_INT(json_integer_value(json_object_get(d, "last_status")), 500);
    CHECK(json_is_null(json_object_get(d, "next_attempt_at")));
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(d, "payload"), "event")),
                 "task_failed");
    d = json_array_get(a, 1);
    CHECK(json_is_null(json_object_get(d, "last_status")));
    CHECK_EQ_STR(json_string_value(json_object_get(d, "payload")), "not json");
    json_decref(o);
    free(s);
    s = webhook_deliveries_encode(NULL, 0);
    CHECK_EQ_STR(s, "{\"deliveries\":[]}");
    free(s);
}

int main(void)
{
    RUN(test_spec_vector);
    RUN(test_raw_key);
    RUN(test_bad_secrets);
    RUN(test_body);
    RUN(test_listing);
    return UNIT_SUMMARY();
}
