/* Unit tests for worker/http_parser.c. */
#include "tests/unit/unit.h"
#include "protocol/http_parser.h"

#include <stdlib.h>

#define MAX_HEAD 8192

static http_request_t req;

/* Literal parse, so inputs may carry NUL bytes. */
#define PARSE(lit) http_parse_request((lit), sizeof(lit) - 1, MAX_HEAD, &req)

/* Header value as a NUL-terminated string, or NULL when absent. */
static const char *hval(const char *name)
{
    static char buf[256];
    const http_header_t *h = http_find_header(&req, name);
    if (!h || h->value_len >= sizeof buf) return NULL;
    memcpy(buf, h->value, h->value_len);
    buf[h->value_len] = '\0';
    return buf;
}

static int span_is(const char *p, size_t len, const char *want)
{
    return p && len == strlen(want) && memcmp(p, want, len) == 0;
}

static const char upgrade_req[] = "GET /ws?token=abc%2Fd&room=lobby HTTP/1.1\r\n"
                                  "Host: gw.example.com:8080\r\n"
                                  "Upgrade:websocket\r\n"
                                  "Connection: keep-alive, Upgrade\r\n"
                                  "Sec-WebSocket-Key: \t dGhlIHNhbXBsZSBub25jZQ== \t\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"
                                  "Origin: https://app.example.com\r\n"
                                  "X-Empty:\r\n"
                                  "\r\n";

static void test_upgrade_request(void)
{
    int n = PARSE(upgrade_req);
    CHECK_EQ_INT(n, sizeof upgrade_req - 1);
    CHECK_EQ_INT(req.head_len, sizeof upgrade_req - 1);
    CHECK(span_is(req.method, req.method_len, "GET"));
    CHECK(span_is(req.target, req.target_len, "/ws?token=abc%2Fd&room=lobby"));
    CHECK(span_is(req.path, req.path_len, "/ws"));
    CHECK(span_is(req.query, req.query_len, "token=abc%2Fd&room=lobby"));
    CHECK_EQ_INT(req.minor_version, 1);
    CHECK_EQ_INT(req.n_headers, 7);
    CHECK_EQ_STR(hval("host"), "gw.example.com:8080");
    CHECK_EQ_STR(hval("UPGRADE"), "websocket");
    CHECK_EQ_STR(hval("connection"), "keep-alive, Upgrade");
    CHECK_EQ_STR(hval("sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
    CHECK_EQ_STR(hval("Sec-WebSocket-Version"), "13");
    CHECK_EQ_STR(hval("origin"), "https://app.example.com");
    CHECK_EQ_STR(hval("x-empty"), "");
    CHECK(hval("cookie") == NULL);
    CHECK(req.keep_alive);
    CHECK(!req.has_content_length);
    CHECK_EQ_INT(req.content_length, 0);
    const http_header_t *c = http_find_header(&req, "Connection");
    CHECK(c && http_value_has_token(c->value, c->value_len, "upgrade"));
    /* Zero-copy: everything points into the input. */
    CHECK(req.method == upgrade_req);
    CHECK(req.headers[0].name == upgrade_req + 43);
}

static void test_no_query(void)
{
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\n\r\n") > 0, 1);
    CHECK(span_is(req.path, req.path_len, "/"));
    CHECK(req.query == NULL);
    CHECK_EQ_INT(req.query_len, 0);
    char out[8];
    CHECK_EQ_INT(http_query_param(&req, "a", out, sizeof out), -1);
    CHECK(!http_query_has(&req, "a"));

    /* Empty query: present but empty. */
    CHECK_EQ_INT(PARSE("GET /x? HTTP/1.1\r\nHost: a\r\n\r\n") > 0, 1);
    CHECK(span_is(req.path, req.path_len, "/x"));
    CHECK(req.query != NULL);
    CHECK_EQ_INT(req.query_len, 0);
}

static void test_incremental(void)
{
    size_t len = sizeof upgrade_req - 1;
    char *buf = malloc(len); /* exact size, so ASan catches any overread */
    CHECK(buf != NULL);
    if (!buf) return;
    memcpy(buf, upgrade_req, len);
    for (size_t i = 0; i < len; i++) {
        int rc = http_parse_request(buf, i, MAX_HEAD, &req);
        if (rc != HTTP_INCOMPLETE) {
            fprintf(stderr, "  prefix %zu returned %d\n", i, rc);
            CHECK_EQ_INT(rc, HTTP_INCOMPLETE);
            break;
        }
    }
    CHECK_EQ_INT(http_parse_request(buf, len, MAX_HEAD, &req), len);
    CHECK_EQ_INT(http_parse_request(NULL, 0, MAX_HEAD, &req), HTTP_INCOMPLETE);
    free(buf);
}

static void test_pipelined(void)
{
    static const char two[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                              "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                              "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *p = two;
    size_t left = sizeof two - 1;

    int n = http_parse_request(p, left, MAX_HEAD, &req);
    CHECK_EQ_INT(n, 28);
    CHECK(span_is(req.path, req.path_len, "/a"));
    p += n, left -= (size_t)n;

    n = http_parse_request(p, left, MAX_HEAD, &req);
    CHECK(n > 0 && span_is(p, 4, "POST"));
    CHECK(span_is(req.path, req.path_len, "/b"));
    CHECK(req.has_content_length);
    CHECK_EQ_INT(req.content_length, 5);
    CHECK(span_is(p + n, 5, "hello"));
    p += (size_t)n + req.content_length, left -= (size_t)n + req.content_length;

    n = http_parse_request(p, left, MAX_HEAD, &req);
    CHECK_EQ_INT(n, left);
    CHECK(span_is(req.path, req.path_len, "/c"));
}

static void test_leading_crlf(void)
{
    CHECK_EQ_INT(PARSE("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 29);
    CHECK_EQ_INT(PARSE("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 31);
    CHECK_EQ_INT(PARSE("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("\r\n"), HTTP_INCOMPLETE);
    CHECK_EQ_INT(PARSE("\r"), HTTP_INCOMPLETE);
}

static void test_request_line_errors(void)
{
    CHECK_EQ_INT(PARSE("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("G(T"), HTTP_INCOMPLETE); /* line not complete yet */
    CHECK_EQ_INT(PARSE("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET /\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE(" / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), HTTP_ERR_VERSION);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), HTTP_ERR_VERSION);
    CHECK_EQ_INT(PARSE("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), HTTP_ERR_VERSION);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/11\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / http/1.1\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/2\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
}

static void test_line_endings(void)
{
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\n\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\n\r"), HTTP_INCOMPLETE);
}

static void test_field_errors(void)
{
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n  c\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nNoColon\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX(y): a\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost\0: a\r\n\r\n"), HTTP_ERR_BAD);
    /* obs-text, inner SP/HTAB and a trailing HTAB are fine. */
    CHECK(PARSE("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9 a\tb\t\r\n\r\n") > 0);
    CHECK_EQ_STR(hval("x"), "caf\xc3\xa9 a\tb");
}

static void test_too_many(void)
{
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "X-%d: v\r\n", i);
    size_t at_limit = n;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\r\n");
    CHECK_EQ_INT(http_parse_request(buf, n, MAX_HEAD, &req), n);
    CHECK_EQ_INT(req.n_headers, HTTP_MAX_HEADERS);

    n = at_limit + (size_t)snprintf(buf + at_limit, sizeof buf - at_limit, "X-last: v\r\n\r\n");
    CHECK_EQ_INT(http_parse_request(buf, n, MAX_HEAD, &req), HTTP_ERR_TOO_MANY);
}

static void test_too_large(void)
{
    static const char r[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"; /* 27 bytes */
    CHECK_EQ_INT(http_parse_request(r, 27, 27, &req), 27);
    CHECK_EQ_INT(http_parse_request(r, 27, 26, &req), HTTP_ERR_TOO_LARGE);
    CHECK_EQ_INT(http_parse_request(r, 20, 26, &req), HTTP_INCOMPLETE);
    CHECK_EQ_INT(http_parse_request(r, 26, 26, &req), HTTP_ERR_TOO_LARGE);
    CHECK_EQ_INT(http_parse_request(r, 27, 0, &req), HTTP_ERR_TOO_LARGE);

    char big[1024];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    CHECK_EQ_INT(http_parse_request(big, sizeof big, 512, &req), HTTP_ERR_TOO_LARGE);
    CHECK_EQ_INT(http_parse_request(big, 300, 512, &req), HTTP_INCOMPLETE);
    /* Huge max_head is clamped, not trusted. */
    CHECK_EQ_INT(http_parse_request(r, 27, (size_t)-1, &req), 27);
}

static void test_framing(void)
{
    CHECK(PARSE("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") > 0);
    CHECK(req.chunked && !req.has_content_length);
    CHECK(PARSE("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n") > 0);
    CHECK(req.chunked);
    CHECK(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n") > 0);
    CHECK(!req.chunked);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
                 HTTP_ERR_NOT_IMPL);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
                 HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
                 HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n"),
                 HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                       "Content-Length: 3\r\n\r\n"),
                 HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                       "transfer-encoding: identity\r\n\r\n"),
                 HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                       "Content-Length: 4\r\n\r\n"),
                 HTTP_ERR_BAD);
    CHECK(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                "content-length: 3\r\n\r\n") > 0);
    CHECK(req.has_content_length);
    CHECK_EQ_INT(req.content_length, 3);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n"), HTTP_ERR_BAD);
    CHECK(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9007199254740992\r\n\r\n") > 0);
    CHECK(req.content_length == (UINT64_C(1) << 53));
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9007199254740993\r\n\r\n"),
                 HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("POST / HTTP/1.1\r\nHost: a\r\n"
                       "Content-Length: 99999999999999999999999999999\r\n\r\n"),
                 HTTP_ERR_BAD);
    CHECK(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n") > 0);
    CHECK(req.has_content_length);
    CHECK_EQ_INT(req.content_length, 0);
}

static void test_host(void)
{
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nX: a\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), HTTP_ERR_BAD);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.0\r\n\r\n"), 18);
    CHECK_EQ_INT(req.minor_version, 0);
    CHECK_EQ_INT(PARSE("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), HTTP_ERR_BAD);
}

static void test_keep_alive(void)
{
    CHECK(PARSE("GET / HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
    CHECK(req.keep_alive);
    CHECK(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n") > 0);
    CHECK(!req.keep_alive);
    CHECK(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nConnection: close\r\n\r\n") >
          0);
    CHECK(!req.keep_alive);
    CHECK(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n") > 0);
    CHECK(req.keep_alive);
    CHECK(PARSE("GET / HTTP/1.0\r\n\r\n") > 0);
    CHECK(!req.keep_alive);
    CHECK(PARSE("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") > 0);
    CHECK(req.keep_alive);
    CHECK(PARSE("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n") > 0);
    CHECK(!req.keep_alive);
}

static void test_tokens(void)
{
    const char *v = "keep-alive, Upgrade";
    CHECK(http_value_has_token(v, strlen(v), "upgrade"));
    CHECK(http_value_has_token(v, strlen(v), "KEEP-ALIVE"));
    CHECK(!http_value_has_token(v, strlen(v), "keep"));
    CHECK(!http_value_has_token(v, strlen(v), "alive, upgrade"));
    v = " \tclose\t ,, foo ,";
    CHECK(http_value_has_token(v, strlen(v), "close"));
    CHECK(http_value_has_token(v, strlen(v), "foo"));
    CHECK(!http_value_has_token(v, strlen(v), ""));
    CHECK(!http_value_has_token(v, 3, "close"));
    CHECK(!http_value_has_token("upgraded", 8, "upgrade"));
    CHECK(!http_value_has_token(NULL, 0, "upgrade"));
    CHECK(!http_value_has_token("", 0, "upgrade"));
}

static void test_query_params(void)
{
    char out[16];
    CHECK(PARSE("GET /p?a=1&b=x%20y&c&d=&e=a+b%2b&a=2&f=%zz&g=%4&h=%00&i%3dj=k&+sp=1&"
                "long=0123456789abcdef HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
    CHECK_EQ_INT(http_query_param(&req, "a", out, sizeof out), 1);
    CHECK_EQ_STR(out, "1"); /* first occurrence wins */
    CHECK_EQ_INT(http_query_param(&req, "b", out, sizeof out), 3);
    CHECK_EQ_STR(out, "x y");
    CHECK_EQ_INT(http_query_param(&req, "c", out, sizeof out), 0);
    CHECK_EQ_STR(out, "");
    CHECK_EQ_INT(http_query_param(&req, "d", out, sizeof out), 0);
    CHECK_EQ_INT(http_query_param(&req, "e", out, sizeof out), 4);
    CHECK_EQ_STR(out, "a b+");
    CHECK_EQ_INT(http_query_param(&req, "f", out, sizeof out), -1);
    CHECK_EQ_STR(out, "");
    CHECK_EQ_INT(http_query_param(&req, "g", out, sizeof out), -1);
    CHECK_EQ_INT(http_query_param(&req, "h", out, sizeof out), -1);
    CHECK_EQ_INT(http_query_param(&req, "i=j", out, sizeof out), 1);
    CHECK_EQ_STR(out, "k");
    CHECK_EQ_INT(http_query_param(&req, " sp", out, sizeof out), 1);
    CHECK_EQ_INT(http_query_param(&req, "zzz", out, sizeof out), -1);
    CHECK_EQ_INT(http_query_param(&req, "", out, sizeof out), -1);
    CHECK_EQ_INT(http_query_param(&req, "A", out, sizeof out), -1); /* names are case-sensitive */
    /* 16 bytes plus NUL do not fit in 16; 17 do. */
    CHECK_EQ_INT(http_query_param(&req, "long", out, sizeof out), -1);
    char big[17];
    CHECK_EQ_INT(http_query_param(&req, "long", big, sizeof big), 16);
    CHECK_EQ_STR(big, "0123456789abcdef");
    CHECK_EQ_INT(http_query_param(&req, "a", out, 2), 1);
    CHECK_EQ_INT(http_query_param(&req, "a", out, 1), -1);
    CHECK_EQ_INT(http_query_param(&req, "c", out, 1), 0);
    CHECK_EQ_INT(http_query_param(&req, "c", NULL, 0), -1);
    /* keys, with or without a value, compared as sent */
    CHECK(http_query_has(&req, "c") && http_query_has(&req, "d") && http_query_has(&req, "a"));
    CHECK(http_query_has(&req, "long") && !http_query_has(&req, "lon"));
    CHECK(!http_query_has(&req, "zzz") && !http_query_has(&req, "i=j"));
}

static void test_status_text(void)
{
    static const int codes[] = {101, 200, 201, 202, 204, 301, 304, 400, 401, 403, 404, 405, 408,
                                409, 411, 413, 422, 426, 429, 431, 500, 501, 502, 503, 505};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        CHECK(strcmp(http_status_text(codes[i]), "Unknown") != 0);
    CHECK_EQ_STR(http_status_text(101), "Switching Protocols");
    CHECK_EQ_STR(http_status_text(200), "OK");
    CHECK_EQ_STR(http_status_text(404), "Not Found");
    CHECK_EQ_STR(http_status_text(431), "Request Header Fields Too Large");
    CHECK_EQ_STR(http_status_text(505), "HTTP Version Not Supported");
    CHECK_EQ_STR(http_status_text(299), "Unknown");
    CHECK_EQ_STR(http_status_text(-1), "Unknown");
}

int main(void)
{
    RUN(test_upgrade_request);
    RUN(test_no_query);
    RUN(test_incremental);
    RUN(test_pipelined);
    RUN(test_leading_crlf);
    RUN(test_request_line_errors);
    RUN(test_line_endings);
    RUN(test_field_errors);
    RUN(test_too_many);
    RUN(test_too_large);
    RUN(test_framing);
    RUN(test_host);
    RUN(test_keep_alive);
    RUN(test_tokens);
    RUN(test_query_params);
    RUN(test_status_text);
    return UNIT_SUMMARY();
}
