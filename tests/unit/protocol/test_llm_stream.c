/* Unit tests for protocol/llm_stream.c: the SSE and NDJSON stream parsers,
 * fed whole, byte by byte and split at every offset. */
#include "tests/unit/unit.h"
#include "protocol/llm_stream.h"

#include <stdlib.h>

/* Deltas as "text|text|...": '|' never appears in the test texts. */
typedef struct {
    char buf[8192];
    size_t len;
    int empty_seen;
    int count;
} deltas_t;

static void on_delta(void *ud, const char *text, size_t len)
{
    deltas_t *d = ud;
    if (len == 0) d->empty_seen = 1;
    if (d->len + len + 1 < sizeof d->buf) {
        memcpy(d->buf + d->len, text, len);
        d->len += len;
        d->buf[d->len++] = '|';
        d->buf[d->len] = '\0';
    }
    d->count++;
}

typedef struct {
    int state;
    deltas_t d;
    char error[256];
} result_t;

/* Feeds input in pieces cut at the given offsets (sorted), then finishes. */
static void run(int wire, size_t max_line, const char *in, size_t n, const size_t *cuts, int ncuts,
                int finish, result_t *r)
{
    llm_stream_parser_t p;
    llm_parser_init(&p, wire, max_line);
    memset(r, 0, sizeof *r);
    size_t at = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        /* Each piece in its own heap block, so ASan sees reads past it. */
        char *piece = malloc(end - at + 1);
        memcpy(piece, in + at, end - at);
        r->state = llm_parser_feed(&p, piece, end - at, on_delta, &r->d);
        free(piece);
        at = end;
    }
    if (finish) r->state = llm_parser_finish(&p, on_delta, &r->d);
    snprintf(r->error, sizeof r->error, "%s", llm_parser_error(&p));
    llm_parser_free(&p);
}

static void run_whole(int wire, const char *in, result_t *r)
{
    run(wire, 0, in, strlen(in), NULL, 0, 1, r);
}

/* Whole, byte by byte, and cut in two and three at every offset: always
 * the same deltas, state and error. */
static void check_splits(int wire, size_t max_line, const char *in, int line)
{
    size_t n = strlen(in);
    result_t whole, r;
    run(wire, max_line, in, n, NULL, 0, 1, &whole);
    CHECK(!whole.d.empty_seen);

    size_t *cuts = malloc(sizeof *cuts * (n + 1));
    for (size_t i = 0; i < n; i++) cuts[i] = i + 1;
    run(wire, max_line, in, n, cuts, n ? (int)n - 1 : 0, 1, &r);
    int bad = r.state != whole.state || strcmp(r.d.buf, whole.d.buf) != 0 ||
              strcmp(r.error, whole.error) != 0;
    for (size_t i = 0; i <= n && !bad; i++) {
        size_t c2[2] = {i, i};
        run(wire, max_line, in, n, c2, 1, 1, &r);
        bad |= r.state != whole.state || strcmp(r.d.buf, whole.d.buf) != 0 ||
               strcmp(r.error, whole.error) != 0 || r.d.empty_seen;
        for (size_t j = i; j <= n && !bad; j += 7) {
            c2[1] = j;
            run(wire, max_line, in, n, c2, 2, 1, &r);
            bad |= r.state != whole.state || strcmp(r.d.buf, whole.d.buf) != 0;
        }
        if (bad)
            fprintf(stderr, "  split at %zu differs (from line %d): \"%s\" vs \"%s\"\n", i, line,
                    r.d.buf, whole.d.buf);
    }
    CHECK(!bad);
    free(cuts);
}

static const char SSE_BASIC[] =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w\\u00f6rld\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" \\\"q\\\"\\n\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: [DONE]\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"after done\"}}]}\n\n";

static void test_sse_basic(void)
{
    result_t r;
    run_whole(LLM_WIRE_SSE, SSE_BASIC, &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_DONE);
    CHECK_EQ_STR(r.d.buf, "Hello| wörld| \"q\"\n|");
    CHECK_EQ_INT(r.d.count, 3);
    CHECK(!r.d.empty_seen);
    check_splits(LLM_WIRE_SSE, 0, SSE_BASIC, __LINE__);
}

/* CRLF and bare CR line ends, comments, other fields, a data field spread
 * over several lines, "data:" without its space. */
static const char SSE_MIXED[] = ": keep-alive\r\n"
                                "event: message\r\n"
                                "id: 1\r\n"
                                "data: {\"choices\":[{\"delta\":\r\n"
                                "data: {\"content\":\"one\"}}]}\r\n"
                                "\r\n"
                                "retry: 1000\r"
                                "data:{\"choices\":[{\"delta\":{\"content\":\"two\"}}]}\r"
                                "\r"
                                ":\n"
                                "data: {\"choices\":[{\"delta\":{\"content\":\"three\"}}]}\n"
                                "\n"
                                "data\n\n" /* an empty data field: no event */
                                "data: [DONE]\r\n\r\n";

static void test_sse_line_ends(void)
{
    result_t r;
    run_whole(LLM_WIRE_SSE, SSE_MIXED, &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_DONE);
    CHECK_EQ_STR(r.d.buf, "one|two|three|");
    check_splits(LLM_WIRE_SSE, 0, SSE_MIXED, __LINE__);
}

static void test_sse_errors(void)
{
    result_t r;
    const char *obj =
        "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
        "data: {\"error\":{\"message\":\"model overloaded\",\"type\":\"server_error\"}}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n";
    run_whole(LLM_WIRE_SSE, obj, &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_ERROR);
    CHECK_EQ_STR(r.d.buf, "a|");
    CHECK(strstr(r.error, "model overloaded") != NULL);
    check_splits(LLM_WIRE_SSE, 0, obj, __LINE__);

    run_whole(LLM_WIRE_SSE, "event: error\ndata: {\"error\":\"quota exceeded\"}\n\n", &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_ERROR);
    CHECK(strstr(r.error, "quota exceeded") != NULL);

    run_whole(LLM_WIRE_SSE, "data: {not json}\n\n", &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_ERROR);
    CHECK(strstr(r.error, "invalid JSON") != NULL);

    run_whole(LLM_WIRE_SSE, "data: [1,2]\n\n", &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_ERROR);

    /* "error": null is no error. */
    run_whole(
        LLM_WIRE_SSE,
        "data: {\"error\":null,\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: [DONE]\n\n",
        &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_DONE);
    CHECK_EQ_STR(r.d.buf, "x|");
}

static void test_sse_end_of_input(void)
{
    result_t r;
    /* No blank line after the last event, no newline at all: still taken. */
    run_whole(LLM_WIRE_SSE, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: [DONE]",
              &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_DONE);
    CHECK_EQ_STR(r.d.buf, "x|");
    /* Without the end marker the state stays MORE: the caller decides. */
    run_whole(LLM_WIRE_SSE, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n", &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_MORE);
    CHECK_EQ_STR(r.d.buf, "x|");
    /* Not finished: an unterminated event is held back. */
    const char *in = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n";
    run(LLM_WIRE_SSE, 0, in, strlen(in), NULL, 0, 0, &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_MORE);
    CHECK_EQ_INT(r.d.count, 0);
    run_whole(LLM_WIRE_SSE, "", &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_MORE);
}

static const char NDJSON_BASIC[] =
    "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"done\":false}\n"
    "\n"
    "  {\"message\":{\"content\":\"lo\"},\"done\":false}  \r\n"
    "{\"message\":{\"content\":\"\"},\"done\":false}\n"
    "{\"message\":{\"content\":\" \\u00fc\\t\"},\"done\":false}\n"
    "{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"eval_count\":3}\n"
    "{\"message\":{\"content\":\"ignored\"},\"done\":false}\n";

static void test_ndjson(void)
{
    result_t r;
    run_whole(LLM_WIRE_NDJSON, NDJSON_BASIC, &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_DONE);
    CHECK_EQ_STR(r.d.buf, "Hel|lo| ü\t|");
    check_splits(LLM_WIRE_NDJSON, 0, NDJSON_BASIC, __LINE__);

    /* A final line with content and done together, no trailing newline. */
    run_whole(LLM_WIRE_NDJSON,
              "{\"message\":{\"content\":\"a\"},\"done\":false}\n{\"message\":{\"content\":\"b\"},"
              "\"done\":true}",
              &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_DONE);
    CHECK_EQ_STR(r.d.buf, "a|b|");

    const char *err = "{\"message\":{\"content\":\"a\"},\"done\":false}\r\n{\"error\":\"model 'x' "
                      "not found\"}\r\n";
    run_whole(LLM_WIRE_NDJSON, err, &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_ERROR);
    CHECK(strstr(r.error, "model 'x' not found") != NULL);
    CHECK_EQ_STR(r.d.buf, "a|");
    check_splits(LLM_WIRE_NDJSON, 0, err, __LINE__);

    run_whole(LLM_WIRE_NDJSON, "{\"message\":{\"content\":\"a\"}}\n{\"message\"\n", &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_ERROR);

    run_whole(LLM_WIRE_NDJSON, "{\"message\":{\"content\":\"a\"},\"done\":false}\n", &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_MORE);
}

static void test_max_line(void)
{
    char in[256];
    result_t r;
    /* A 39-byte JSON line fits in 39, not in 38, whatever the split. */
    snprintf(in, sizeof in, "{\"message\":{\"content\":\"abcdefghijklm\"}}\n");
    CHECK_EQ_INT(strlen(in), 40);
    run(LLM_WIRE_NDJSON, 39, in, strlen(in), NULL, 0, 1, &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_MORE);
    CHECK_EQ_STR(r.d.buf, "abcdefghijklm|");
    run(LLM_WIRE_NDJSON, 38, in, strlen(in), NULL, 0, 1, &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_ERROR);
    CHECK(strstr(r.error, "longer than 38") != NULL);
    check_splits(LLM_WIRE_NDJSON, 38, in, __LINE__);
    check_splits(LLM_WIRE_NDJSON, 39, in, __LINE__);

    /* SSE: a long line without a terminator fails before it ends. */
    memset(in, 'a', 100);
    memcpy(in, "data: ", 6);
    in[100] = '\0';
    run(LLM_WIRE_SSE, 64, in, 100, NULL, 0, 0, &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_ERROR);

    /* SSE: many short data lines add up to one event over the limit. */
    char ev[512] = "";
    for (int i = 0; i < 20; i++) strcat(ev, "data: 0123456789\n");
    strcat(ev, "\n");
    run(LLM_WIRE_SSE, 64, ev, strlen(ev), NULL, 0, 1, &r);
    CHECK_EQ_INT(r.state, LLM_PARSE_ERROR);
    CHECK(strstr(r.error, "event longer") != NULL);
    check_splits(LLM_WIRE_SSE, 64, ev, __LINE__);

    /* The default limit is 1 MiB. */
    size_t big = LLM_STREAM_MAX_LINE + 10;
    char *huge = malloc(big);
    memset(huge, 'x', big);
    llm_stream_parser_t p;
    llm_parser_init(&p, LLM_WIRE_NDJSON, 0);
    deltas_t d = {0};
    int st = LLM_PARSE_MORE;
    for (size_t off = 0; off < big && st == LLM_PARSE_MORE; off += 4096)
        st = llm_parser_feed(&p, huge + off, big - off < 4096 ? big - off : 4096, on_delta, &d);
    CHECK_EQ_INT(st, LLM_PARSE_ERROR);
    CHECK(p.line.cap <= 2 * LLM_STREAM_MAX_LINE);
    llm_parser_free(&p);
    free(huge);
}

static void test_reset(void)
{
    llm_stream_parser_t p;
    deltas_t d = {0};
    llm_parser_init(&p, LLM_WIRE_SSE, 0);
    const char *bad = "data: {\"error\":{\"message\":\"x\"}}\n\n";
    CHECK_EQ_INT(llm_parser_feed(&p, bad, strlen(bad), on_delta, &d), LLM_PARSE_ERROR);
    llm_parser_reset(&p);
    CHECK_EQ_STR(llm_parser_error(&p), "");
    const char *good = "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: [DONE]\n\n";
    CHECK_EQ_INT(llm_parser_feed(&p, good, strlen(good), on_delta, &d), LLM_PARSE_DONE);
    CHECK_EQ_STR(d.buf, "ok|");
    CHECK_EQ_INT(p.deltas, 1);
    llm_parser_free(&p);
}

static void test_error_message(void)
{
    char out[64];
    const char *b1 = "{\"error\":{\"message\":\"model exploded\",\"type\":\"server_error\"}}";
    CHECK_EQ_STR(llm_error_message(b1, strlen(b1), out, sizeof out), "model exploded");
    const char *b2 = "{\"error\":\"no such model\"}";
    CHECK_EQ_STR(llm_error_message(b2, strlen(b2), out, sizeof out), "no such model");
    const char *b3 = "{\"detail\":\"Not Found\"}";
    CHECK_EQ_STR(llm_error_message(b3, strlen(b3), out, sizeof out), "Not Found");
    const char *b4 = "Bad Gateway\r\n";
    CHECK_EQ_STR(llm_error_message(b4, strlen(b4), out, sizeof out), "Bad Gateway");
    CHECK_EQ_STR(llm_error_message("", 0, out, sizeof out), "");
    /* Truncated at a character boundary. */
    char small[6];
    const char *b5 = "{\"error\":\"\\u00fc\\u00fc\\u00fc\"}"; /* 6 bytes of UTF-8 */
    CHECK_EQ_STR(llm_error_message(b5, strlen(b5), small, sizeof small), "\xc3\xbc\xc3\xbc");
}

int main(void)
{
    RUN(test_sse_basic);
    RUN(test_sse_line_ends);
    RUN(test_sse_errors);
    RUN(test_sse_end_of_input);
    RUN(test_ndjson);
    RUN(test_max_line);
    RUN(test_reset);
    RUN(test_error_message);
    return UNIT_SUMMARY();
}
