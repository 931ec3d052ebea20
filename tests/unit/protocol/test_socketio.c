/* Unit tests for protocol/socketio.c: the Socket.IO packet decoder, the
 * long-polling body iterator, and every encoder (exact bytes on the wire,
 * escaping, non-ASCII kept as UTF-8, invalid UTF-8 scrubbed). */
#include "tests/unit/unit.h"
#include "protocol/json_msg.h"
#include "protocol/socketio.h"

#include <stdlib.h>

/* The wire text of a data value (then released). */
static char *dumped(json_t *v)
{
    char *s = json_msg_dump(v);
    json_decref(v);
    return s;
}

#define CHECK_DUMP(v, expect)                                                                      \
    do {                                                                                           \
        char *_s = dumped(v);                                                                      \
        CHECK_EQ_STR(_s, expect);                                                                  \
        free(_s);                                                                                  \
    } while (0)

#define CHECK_PKT(p, expect)                                                                       \
    do {                                                                                           \
        char *_s = (p);                                                                            \
        CHECK_EQ_STR(_s, expect);                                                                  \
        free(_s);                                                                                  \
    } while (0)

typedef struct {
    int rc;
    sio_packet_t p;
    const char *code;
    char err[160];
} decoded_t;

/* Decode from a heap copy of exactly len bytes (no NUL: ASan sees reads
 * past the end). */
static void decode(const char *s, size_t len, decoded_t *d)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, s, len);
    d->code = NULL;
    d->err[0] = 0;
    d->rc = sio_decode(copy, len, &d->p, &d->code, d->err, sizeof d->err);
    free(copy);
}

static void decode_s(const char *s, decoded_t *d) { decode(s, strlen(s), d); }

/* ---- decoder ---- */

static void test_decode_connect(void)
{
    decoded_t d;
    decode_s("0", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_INT(d.p.type, SIO_CONNECT);
    CHECK_EQ_STR(d.p.nsp, "/");
    CHECK_EQ_INT(d.p.ack_id, -1);
    CHECK(d.p.data == NULL);
    sio_packet_free(&d.p);

    decode_s("0{\"token\":\"abc\"}", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK(json_is_object(d.p.data));
    CHECK_EQ_STR(json_string_value(json_object_get(d.p.data, "token")), "abc");
    sio_packet_free(&d.p);

    decode_s("0/admin,{}", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_STR(d.p.nsp, "/admin");
    sio_packet_free(&d.p);

    decode_s("0\"token\"", &d);
    CHECK_EQ_INT(d.rc, -1);
    CHECK_EQ_STR(d.code, ERR_VALIDATION);
    CHECK_EQ_STR(d.err, "connect auth must be an object");
    sio_packet_free(&d.p);
}

static void test_decode_event(void)
{
    decoded_t d;
    decode_s("2[\"join_project\",{\"project_id\":7}]", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_INT(d.p.type, SIO_EVENT);
    CHECK_EQ_STR(d.p.event, "join_project");
    CHECK_EQ_INT(d.p.ack_id, -1);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(d.p.data, 1), "project_id")), 7);
    sio_packet_free(&d.p);

    decode_s("212[\"ping\"]", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_INT(d.p.ack_id, 12);
    CHECK_EQ_STR(d.p.event, "ping");
    sio_packet_free(&d.p);

    decode_s("2/chat,5[\"x\"]", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_STR(d.p.nsp, "/chat");
    CHECK_EQ_INT(d.p.ack_id, 5);
    sio_packet_free(&d.p);

    /* Non-ASCII event names come through as UTF-8. */
    decode_s("2[\"h\xc3\xa9llo \xe2\x82\xac\"]", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_STR(d.p.event, "h\xc3\xa9llo \xe2\x82\xac");
    sio_packet_free(&d.p);

    /* Escapes are decoded. */
    decode_s("2[\"a\\\"b\\u00e9\"]", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_STR(d.p.event, "a\"b\xc3\xa9");
    sio_packet_free(&d.p);

    const char *bad[] = {"2", "2[]", "2{\"a\":1}", "2[1]", "2\"x\"", "2[null,1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        decode_s(bad[i], &d);
        CHECK_EQ_INT(d.rc, -1);
        CHECK_EQ_STR(d.code, ERR_VALIDATION);
        CHECK_EQ_STR(d.err, "an event is [\"name\", ...args]");
        sio_packet_free(&d.p);
    }
}

static void test_decode_ack_disconnect(void)
{
    decoded_t d;
    decode_s("35[1,\"a\"]", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_INT(d.p.type, SIO_ACK);
    CHECK_EQ_INT(d.p.ack_id, 5);
    CHECK_EQ_INT(json_array_size(d.p.data), 2);
    sio_packet_free(&d.p);

    const char *bad[] = {"3[1]", "35{}", "35", "3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        decode_s(bad[i], &d);
        CHECK_EQ_INT(d.rc, -1);
        CHECK_EQ_STR(d.err, "an ack is <id>[...args]");
        sio_packet_free(&d.p);
    }

    decode_s("1", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_INT(d.p.type, SIO_DISCONNECT);
    CHECK_EQ_STR(d.p.nsp, "/");
    sio_packet_free(&d.p);

    decode_s("1/admin,", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_STR(d.p.nsp, "/admin");
    sio_packet_free(&d.p);

    /* CONNECT_ERROR from a client decodes; the caller ignores it. */
    decode_s("4{\"message\":\"x\"}", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_INT(d.p.type, SIO_CONNECT_ERROR);
    sio_packet_free(&d.p);
}

static void test_decode_binary(void)
{
    decoded_t d;
    /* Decoded without data so the caller can refuse it politely. */
    decode_s("51-[\"upload\",{\"_placeholder\":true,\"num\":0}]", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_INT(d.p.type, SIO_BINARY_EVENT);
    CHECK(d.p.data == NULL);
    sio_packet_free(&d.p);

    decode_s("61-3[{\"_placeholder\":true,\"num\":0}]", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_INT(d.p.type, SIO_BINARY_ACK);
    CHECK(d.p.data == NULL);
    sio_packet_free(&d.p);
}

static void test_decode_errors(void)
{
    decoded_t d;
    const char *unknown[] = {"", "7", "x", "9[]", "/"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        decode_s(unknown[i], &d);
        CHECK_EQ_INT(d.rc, -1);
        CHECK_EQ_STR(d.code, ERR_VALIDATION);
        CHECK_EQ_STR(d.err, "unknown Socket.IO packet type");
        sio_packet_free(&d.p);
    }

    /* Invalid JSON: INVALID_JSON, and the message is valid UTF-8 even when
     * the input is not. */
    const char *json_bad[] = {"2[\"x\"", "2[\"x\",]", "2[\"\xff\"]", "2[\"x\",{\"a\":1,\"a\":2}]",
                              "0{\"t\":\"\xc3\"}"};
    for (size_t i = 0; i < sizeof json_bad / sizeof json_bad[0]; i++) {
        decode_s(json_bad[i], &d);
        CHECK_EQ_INT(d.rc, -1);
        CHECK_EQ_STR(d.code, ERR_INVALID_JSON);
        CHECK(strncmp(d.err, "invalid JSON in packet: ", 24) == 0);
        CHECK(utf8_valid(d.err, strlen(d.err), NULL));
        CHECK(d.p.data == NULL);
        sio_packet_free(&d.p);
    }

    /* A namespace up to 127 bytes fits; 128 does not. */
    char pkt[300] = "2/";
    memset(pkt + 2, 'n', 126);
    strcpy(pkt + 128, ",[\"x\"]");
    decode_s(pkt, &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_INT(strlen(d.p.nsp), 127);
    sio_packet_free(&d.p);
    memset(pkt + 2, 'n', 127);
    strcpy(pkt + 129, ",[\"x\"]");
    decode_s(pkt, &d);
    CHECK_EQ_INT(d.rc, -1);
    CHECK_EQ_STR(d.err, "namespace too long");
    sio_packet_free(&d.p);

    /* Ack ids: 15 digits at most. */
    decode_s("2999999999999999[\"x\"]", &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_INT(d.p.ack_id, 999999999999999LL);
    sio_packet_free(&d.p);
    decode_s("21234567890123456[\"x\"]", &d);
    CHECK_EQ_INT(d.rc, -1);
    CHECK_EQ_STR(d.err, "ack id too long");
    sio_packet_free(&d.p);
}

static void test_decode_length_bounded(void)
{
    /* Only len bytes are read: what follows is not part of the packet. */
    decoded_t d;
    const char *s = "2[\"ping\"]garbage";
    decode(s, 9, &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_STR(d.p.event, "ping");
    sio_packet_free(&d.p);

    /* Every prefix of a packet decodes or fails cleanly (ASan checks). */
    const char *full = "2/ns,42[\"send_message\",{\"chat_id\":\"c\",\"message\":\"h\xc3\xa9\"}]";
    for (size_t n = 0; n <= strlen(full); n++) {
        decode(full, n, &d);
        CHECK(d.rc == 0 || d.rc == -1);
        if (d.rc < 0) CHECK(utf8_valid(d.err, strlen(d.err), NULL));
        sio_packet_free(&d.p);
    }
}

/* ---- packet encoders ---- */

static void test_event(void)
{
    json_t *data = json_pack("{s:s, s:i}", "token", "h\xc3\xa9", "n", 1);
    CHECK_PKT(sio_event("message_token", data),
              "42[\"message_token\",{\"token\":\"h\xc3\xa9\",\"n\":1}]");
    json_decref(data);
    CHECK_PKT(sio_event("pong", NULL), "42[\"pong\",null]");
    /* The event name is escaped. */
    CHECK_PKT(sio_event("a\"b\\c\n", NULL), "42[\"a\\\"b\\\\c\\n\",null]");
    /* A name that is not UTF-8 cannot be encoded. */
    char *p = sio_event("\xff", NULL);
    CHECK(p == NULL);
    free(p);

    /* What is encoded decodes back (after the Engine.IO '4'). */
    data = json_pack("{s:s}", "x", "\xe2\x82\xac");
    char *pkt = sio_event("r\xc3\xa9sum\xc3\xa9", data);
    json_decref(data);
    decoded_t d;
    decode_s(pkt + 1, &d);
    CHECK_EQ_INT(d.rc, 0);
    CHECK_EQ_STR(d.p.event, "r\xc3\xa9sum\xc3\xa9");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(d.p.data, 1), "x")),
                 "\xe2\x82\xac");
    sio_packet_free(&d.p);
    free(pkt);
}

static void test_ack(void)
{
    json_t *data = json_pack("{s:s}", "status", "accepted");
    CHECK_PKT(sio_ack(7, data), "437[{\"status\":\"accepted\"}]");
    CHECK_PKT(sio_ack(123456789012345LL, data), "43123456789012345[{\"status\":\"accepted\"}]");
    json_decref(data);
    CHECK_PKT(sio_ack(0, NULL), "430[null]");
}

static void test_connect_ok_error(void)
{
    CHECK_PKT(sio_connect_ok("0123456789abcdef0123"), "40{\"sid\":\"0123456789abcdef0123\"}");
    CHECK_PKT(sio_connect_error("/", "Authentication failed: token expired"),
              "44{\"message\":\"Authentication failed: token expired\"}");
    CHECK_PKT(sio_connect_error(NULL, "x"), "44{\"message\":\"x\"}");
    CHECK_PKT(sio_connect_error("/admin", "Invalid namespace"),
              "44/admin,{\"message\":\"Invalid namespace\"}");
    /* Messages are escaped and made valid UTF-8. */
    CHECK_PKT(sio_connect_error("/", "bad \"t\"\t\xff"), "44{\"message\":\"bad \\\"t\\\"\\t?\"}");
    /* The namespace is client text: scrubbed and cut on a character
     * boundary (120 bytes at most). */
    CHECK_PKT(sio_connect_error("/n\xff", "Invalid namespace"),
              "44/n?,{\"message\":\"Invalid namespace\"}");
    char nsp[256] = "/";
    for (int i = 0; i < 100; i++) strcat(nsp, "\xc3\xa9"); /* 201 bytes */
    char *p = sio_connect_error(nsp, "Invalid namespace");
    CHECK(p != NULL);
    if (p) {
        CHECK(strncmp(p, "44/", 3) == 0);
        const char *comma = strchr(p, ',');
        CHECK(comma != NULL);
        if (comma) CHECK_EQ_INT(comma - (p + 2), 119); /* "/" + 59 x "é" */
        CHECK(utf8_valid(p, strlen(p), NULL));
        CHECK_EQ_STR(comma, ",{\"message\":\"Invalid namespace\"}");
    }
    free(p);
}

static void test_error_data(void)
{
    CHECK_DUMP(sio_error_data(ERR_VALIDATION, "project_id is not valid", NULL),
               "{\"message\":\"project_id is not valid\",\"code\":\"VALIDATION_ERROR\"}");
    json_t *chat = json_integer(5);
    CHECK_DUMP(sio_error_data("LLM_UNAVAILABLE", "no model", chat),
               "{\"message\":\"no model\",\"code\":\"LLM_UNAVAILABLE\",\"chat_id\":5}");
    json_decref(chat);
    chat = json_string("c-1");
    CHECK_DUMP(sio_error_data(NULL, "x", chat),
               "{\"message\":\"x\",\"code\":\"INTERNAL_ERROR\",\"chat_id\":\"c-1\"}");
    json_decref(chat);
    /* Client text quoted in a message: escaped, UTF-8 kept, bad bytes '?'. */
    CHECK_DUMP(sio_error_data(ERR_UNKNOWN_TYPE, "unknown event \"\xc3\xa9\xff\"", NULL),
               "{\"message\":\"unknown event \\\"\xc3\xa9?\\\"\",\"code\":\"UNKNOWN_TYPE\"}");
}

/* ---- the seed-002 event data ---- */

static void test_session_data(void)
{
    CHECK_DUMP(sio_status_data("abcdef0123456789abcd"),
               "{\"status\":\"connected\",\"sid\":\"abcdef0123456789abcd\"}");
    json_t *pid = json_integer(42);
    CHECK_DUMP(sio_project_data(pid), "{\"project_id\":42}");
    json_decref(pid);
    pid = json_string("proj_a-1");
    CHECK_DUMP(sio_project_data(pid), "{\"project_id\":\"proj_a-1\"}");
    CHECK_DUMP(sio_project_data(NULL), "{\"project_id\":null}");
    CHECK_DUMP(sio_timestamp_data(1700000000123ULL), "{\"timestamp\":1700000000123}");
    CHECK_DUMP(sio_resync_data("sio:project_7", 12),
               "{\"channel\":\"sio:project_7\",\"missed\":12}");
    json_t *chat = json_integer(3);
    CHECK_DUMP(sio_metadata_data(1700000000123ULL, pid, chat),
               "{\"connected_at\":1700000000123,\"project_id\":\"proj_a-1\",\"chat_id\":3}");
    CHECK_DUMP(sio_metadata_data(5, NULL, NULL),
               "{\"connected_at\":5,\"project_id\":null,\"chat_id\":null}");
    CHECK_DUMP(sio_chat_data(chat), "{\"chat_id\":3}");
    CHECK_DUMP(sio_accepted_data(pid), "{\"status\":\"accepted\",\"chat_id\":\"proj_a-1\"}");
    /* Borrowed: still ours. */
    CHECK_EQ_INT(pid->refcount, 1);
    CHECK_EQ_INT(chat->refcount, 1);
    json_decref(pid);
    json_decref(chat);
}

static void test_answer_data(void)
{
    json_t *chat = json_string("c1");
    CHECK_DUMP(sio_source(3, 9, "guide.md", 0, "some text", 0.5),
               "{\"id\":\"chunk_3\",\"content\":\"some text\",\"metadata\":{\"document_id\":9,"
               "\"filename\":\"guide.md\",\"page\":null},\"score\":0.5}");
    CHECK_DUMP(sio_source(1234567890123LL, 2, "caf\xc3\xa9 \"x\".pdf", 4,
                          "line\nsecond \xe2\x82\xac \xff", 0.1),
               "{\"id\":\"chunk_1234567890123\",\"content\":\"line\\nsecond \xe2\x82\xac ?\","
               "\"metadata\":{\"document_id\":2,\"filename\":\"caf\xc3\xa9 \\\"x\\\".pdf\","
               "\"page\":4},\"score\":0.1}");

    json_t *arr = json_array();
    json_array_append_new(arr, sio_source(1, 1, "a", 0, "b", 1));
    CHECK_DUMP(
        sio_sources_data(chat, arr),
        "{\"chat_id\":\"c1\",\"sources\":[{\"id\":\"chunk_1\",\"content\":\"b\","
        "\"metadata\":{\"document_id\":1,\"filename\":\"a\",\"page\":null},\"score\":1.0}]}");
    CHECK_DUMP(sio_sources_data(chat, json_array()), "{\"chat_id\":\"c1\",\"sources\":[]}");

    /* A token is len bytes of text (not NUL-terminated). */
    CHECK_DUMP(sio_token_data(chat, "h\xc3\xa9llo world", 6),
               "{\"chat_id\":\"c1\",\"token\":\"h\xc3\xa9llo\"}");
    CHECK_DUMP(sio_token_data(chat, "\"q\"\t", 4),
               "{\"chat_id\":\"c1\",\"token\":\"\\\"q\\\"\\t\"}");
    CHECK_DUMP(sio_token_data(chat, "a\xff", 2), "{\"chat_id\":\"c1\",\"token\":\"a?\"}");
    CHECK_DUMP(sio_token_data(chat, "", 0), "{\"chat_id\":\"c1\",\"token\":\"\"}");

    CHECK_DUMP(sio_complete_data(chat, "llama3.2:1b", 2, 77),
               "{\"chat_id\":\"c1\",\"metadata\":{\"model\":\"llama3.2:1b\",\"sources_count\":2,"
               "\"message_id\":77}}");
    CHECK_EQ_INT(chat->refcount, 1);
    json_decref(chat);
}

/* ---- Engine.IO ---- */

static void test_eio_open(void)
{
    CHECK_PKT(eio_open("0a00001234deadbeefcafef00d", 1, 25000, 20000, 100000),
              "0{\"sid\":\"0a00001234deadbeefcafef00d\",\"upgrades\":[\"websocket\"],"
              "\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":100000}");
    CHECK_PKT(
        eio_open("s", 0, 1, 2, 3),
        "0{\"sid\":\"s\",\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":2,\"maxPayload\":3}");
}

static void test_eio_error_body(void)
{
    /* Byte for byte what the snprintf of the earlier code wrote. */
    const struct {
        int code;
        const char *message;
    } cases[] = {
        {0, "Transport unknown"},
        {1, "Session ID unknown"},
        {2, "Bad request method"},
        {3, "Bad handshake method"},
        {3, "Bad request: concurrent long-poll"},
        {4, "Origin not allowed"},
        {5, "Unsupported protocol version"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char expect[160];
        snprintf(expect, sizeof expect, "{\"code\":%d,\"message\":\"%s\"}", cases[i].code,
                 cases[i].message);
        CHECK_PKT(eio_error_body(cases[i].code, cases[i].message), expect);
    }
    /* And what it did not do: escape. */
    CHECK_PKT(eio_error_body(3, "a \"b\" \xc3\xa9\xff"),
              "{\"code\":3,\"message\":\"a \\\"b\\\" \xc3\xa9?\"}");
}

static void test_eio_next_packet(void)
{
    size_t pos = 0;
    const char body[] = "40\x1e"
                        "42[\"a\"]\x1e"
                        "2";
    size_t len = sizeof body - 1;
    CHECK_EQ_INT(eio_next_packet(body, len, &pos), 2);
    CHECK_EQ_INT(pos, 3);
    CHECK_EQ_INT(eio_next_packet(body, len, &pos), 7);
    CHECK(memcmp(body + 3, "42[\"a\"]", 7) == 0);
    CHECK_EQ_INT(eio_next_packet(body, len, &pos), 1);
    CHECK_EQ_INT(eio_next_packet(body, len, &pos), -1);
    CHECK_EQ_INT(eio_next_packet(body, len, &pos), -1);

    pos = 0;
    CHECK_EQ_INT(eio_next_packet("", 0, &pos), -1);
    /* Empty packets between separators; none after a trailing one. */
    pos = 0;
    CHECK_EQ_INT(eio_next_packet("\x1e\x1e", 2, &pos), 0);
    CHECK_EQ_INT(eio_next_packet("\x1e\x1e", 2, &pos), 0);
    CHECK_EQ_INT(eio_next_packet("\x1e\x1e", 2, &pos), -1);
    pos = 0;
    CHECK_EQ_INT(eio_next_packet("6\x1e", 2, &pos), 1);
    CHECK_EQ_INT(eio_next_packet("6\x1e", 2, &pos), -1);
    /* Bounded by len, not by a NUL. */
    pos = 0;
    CHECK_EQ_INT(eio_next_packet("4hello\x1e"
                                 "4x",
                                 3, &pos),
                 3);
    CHECK_EQ_INT(pos, 3);
}

int main(void)
{
    RUN(test_decode_connect);
    RUN(test_decode_event);
    RUN(test_decode_ack_disconnect);
    RUN(test_decode_binary);
    RUN(test_decode_errors);
    RUN(test_decode_length_bounded);
    RUN(test_event);
    RUN(test_ack);
    RUN(test_connect_ok_error);
    RUN(test_error_data);
    RUN(test_session_data);
    RUN(test_answer_data);
    RUN(test_eio_open);
    RUN(test_eio_error_body);
    RUN(test_eio_next_packet);
    return UNIT_SUMMARY();
}
