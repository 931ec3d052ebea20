/* libFuzzer target for worker/http_parser.c: parse arbitrary bytes under a few
 * head limits and, on success, check that everything the parser hands out
 * stays inside the input and agrees with itself. Any violation aborts. */
#include "protocol/http_parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) abort();                                                                      \
    } while (0)

static const char *in_lo, *in_hi; /* current input, [lo, hi) */

static void require_inside(const char *p, size_t len)
{
    REQUIRE(p != NULL && p >= in_lo && len <= (size_t)(in_hi - p));
}

static void check_query(const http_request_t *req, const char *name)
{
    static const size_t outlens[] = {0, 1, 4, 64};
    char out[64];
    for (size_t i = 0; i < sizeof outlens / sizeof outlens[0]; i++) {
        memset(out, 'X', sizeof out);
        int n = http_query_param(req, name, out, outlens[i]);
        REQUIRE(n >= -1);
        if (n >= 0) {
            /* Fits with its NUL, and carries no NUL of its own. */
            REQUIRE((size_t)n < outlens[i] && out[n] == '\0' && strlen(out) == (size_t)n);
            REQUIRE((size_t)n <= req->query_len);
        } else if (outlens[i]) {
            REQUIRE(out[0] == '\0');
        }
    }
}

static void check_request(const http_request_t *req, int rc, size_t size, size_t max_head)
{
    REQUIRE(rc > 0 && (size_t)rc == req->head_len);
    REQUIRE(req->head_len <= size && req->head_len <= max_head);
    in_hi = in_lo + req->head_len; /* nothing may point past the head */

    require_inside(req->method, req->method_len);
    REQUIRE(req->method_len > 0);
    require_inside(req->target, req->target_len);
    REQUIRE(req->target_len > 0 && req->target[0] == '/');
    REQUIRE(req->path == req->target && req->path_len <= req->target_len);
    if (req->query) {
        REQUIRE(req->path_len < req->target_len && req->target[req->path_len] == '?');
        REQUIRE(req->query == req->target + req->path_len + 1);
        REQUIRE(req->query_len == req->target_len - req->path_len - 1);
        REQUIRE(!memchr(req->path, '?', req->path_len));
    } else {
        REQUIRE(req->path_len == req->target_len && req->query_len == 0);
    }
    REQUIRE(req->minor_version == 0 || req->minor_version == 1);
    REQUIRE(req->n_headers <= HTTP_MAX_HEADERS);
    REQUIRE(req->content_length <= (UINT64_C(1) << 53));
    REQUIRE(req->has_content_length || req->content_length == 0);
    REQUIRE(req->keep_alive == 0 || req->keep_alive == 1);

    for (size_t i = 0; i < req->n_headers; i++) {
        const http_header_t *h = &req->headers[i];
        require_inside(h->name, h->name_len);
        REQUIRE(h->name_len > 0 && !memchr(h->name, ':', h->name_len));
        if (h->value_len) require_inside(h->value, h->value_len);
        REQUIRE(!memchr(h->value, '\r', h->value_len) && !memchr(h->value, '\n', h->value_len));
        if (h->value_len) REQUIRE(h->value[0] != ' ' && h->value[h->value_len - 1] != ' ');

        /* Looking a header up by its own name finds it or an earlier one. */
        char name[64];
        if (h->name_len < sizeof name) {
            memcpy(name, h->name, h->name_len);
            name[h->name_len] = '\0';
            const http_header_t *f = http_find_header(req, name);
            REQUIRE(f != NULL && f <= h && f->name_len == h->name_len);
        }
        http_value_has_token(h->value, h->value_len, "close");
        http_value_has_token(h->value, h->value_len, "upgrade");
    }
    REQUIRE(!req->minor_version || http_find_header(req, "host") != NULL);
    /* chunked is the only coding accepted, and never beside Content-Length */
    REQUIRE(req->chunked == (http_find_header(req, "transfer-encoding") != NULL));
    REQUIRE(!req->chunked || (!req->has_content_length && req->minor_version == 1));

    check_query(req, "a");
    check_query(req, "token");
    check_query(req, " ");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[] = {16, 512, 8192, SIZE_MAX};
    const char *buf = (const char *)data;
    http_request_t req;

    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        in_lo = buf;
        in_hi = buf + size;
        int rc = http_parse_request(buf, size, limits[i], &req);
        REQUIRE(rc >= HTTP_ERR_TOO_MANY);
        if (rc == HTTP_ERR_TOO_LARGE) REQUIRE(size >= limits[i]);
        if (rc <= 0) continue;
        check_request(&req, rc, size, limits[i]);

        /* The head alone parses the same, and any shorter prefix of it is
         * merely incomplete: errors never depend on where a read stopped. */
        size_t head = req.head_len;
        http_request_t again;
        REQUIRE(http_parse_request(buf, head, limits[i], &again) == rc);
        REQUIRE(again.n_headers == req.n_headers && again.keep_alive == req.keep_alive);
        REQUIRE(http_parse_request(buf, head - 1, limits[i], &again) == HTTP_INCOMPLETE);
        REQUIRE(http_parse_request(buf, head / 2, limits[i], &again) == HTTP_INCOMPLETE);
    }

    /* Token matching on raw bytes, with a token taken from the input. */
    char tok[16];
    size_t tlen = size < sizeof tok - 1 ? size : sizeof tok - 1;
    if (tlen) memcpy(tok, buf, tlen);
    tok[tlen] = '\0';
    http_value_has_token(buf, size, tok);
    http_value_has_token(buf, size, "keep-alive");
    REQUIRE(http_status_text(size > 0 ? (int)data[0] * 3 : 0) != NULL);
    return 0;
}
