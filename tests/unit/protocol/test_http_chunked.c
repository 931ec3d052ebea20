/* Unit tests for protocol/http_chunked.c: every split of sample bodies
 * decodes to the same data, and malformed framing is refused wherever the
 * input is cut. */
#include "tests/unit/unit.h"
#include "protocol/http_chunked.h"

#include <stdlib.h>

/* Decode in[0..len) fed as pieces cut at `cut` (0: one piece, else every
 * cut bytes). out gets the data; returns the final rc, *end the bytes
 * consumed up to DONE. */
static int decode(const char *in, size_t len, size_t cut, char *out, size_t *out_len, size_t *end)
{
    http_chunked_t d;
    http_chunked_init(&d);
    size_t pos = 0, n = 0;
    int rc = HTTP_CHUNKED_NEED;
    while (pos < len) {
        size_t piece = cut && len - pos > cut ? cut : len - pos;
        size_t off = 0;
        for (;;) {
            size_t used;
            const char *data;
            size_t dlen;
            rc = http_chunked_feed(&d, in + pos + off, piece - off, &used, &data, &dlen);
            off += used;
            if (rc == HTTP_CHUNKED_DATA) {
                memcpy(out + n, data, dlen);
                n += dlen;
                continue;
            }
            break;
        }
        pos += off;
        if (rc != HTTP_CHUNKED_NEED) break;
    }
    *out_len = n;
    *end = pos;
    return rc;
}

static const char sample[] =
    "5\r\nBonjo\r\n"
    "19;name=\"val\"; x\r\nur le monde, \xc3\xa9t\xc3\xa9 \xf0\x9f\x8e\x89!!\r\n"
    "000\r\n"
    "X-Trailer: yes\r\n"
    "\r\n"
    "GET / HTTP/1.1\r\n";

static void test_every_split(void)
{
    const char *want = "Bonjour le monde, \xc3\xa9t\xc3\xa9 \xf0\x9f\x8e\x89!!";
    size_t len = sizeof sample - 1, body_end = len - strlen("GET / HTTP/1.1\r\n");
    char out[128];
    for (size_t cut = 0; cut <= len; cut++) {
        size_t n, end;
        int rc = decode(sample, len, cut, out, &n, &end);
        CHECK_EQ_INT(rc, HTTP_CHUNKED_DONE);
        CHECK_EQ_INT(end, body_end);
        CHECK(n == strlen(want) && memcmp(out, want, n) == 0);
    }
    /* Two pieces at every position, too. */
    for (size_t at = 0; at <= len; at++) {
        http_chunked_t d;
        http_chunked_init(&d);
        size_t n = 0, pos = 0;
        int rc = 0;
        const size_t stops[2] = {at, len};
        for (int k = 0; k < 2 && rc != HTTP_CHUNKED_DONE; k++) {
            while (pos < stops[k]) {
                size_t used, dlen;
                const char *data;
                rc = http_chunked_feed(&d, sample + pos, stops[k] - pos, &used, &data, &dlen);
                pos += used;
                if (rc == HTTP_CHUNKED_DATA) {
                    memcpy(out + n, data, dlen);
                    n += dlen;
                } else {
                    break;
                }
            }
        }
        CHECK_EQ_INT(rc, HTTP_CHUNKED_DONE);
        CHECK_EQ_INT(pos, body_end);
        CHECK_EQ_INT(n, strlen(want));
    }
}

static void test_empty_and_big(void)
{
    char out[16];
    size_t n, end;
    CHECK_EQ_INT(decode("0\r\n\r\n", 5, 0, out, &n, &end), HTTP_CHUNKED_DONE);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(end, 5);
    /* A large size is fine until the data runs out: just more to come. */
    CHECK_EQ_INT(decode("fffffff\r\nab", 11, 0, out, &n, &end), HTTP_CHUNKED_NEED);
    CHECK_EQ_INT(n, 2);
    /* Incomplete everywhere is NEED, never an error. */
    CHECK_EQ_INT(decode("4\r\nab", 5, 1, out, &n, &end), HTTP_CHUNKED_NEED);
    CHECK_EQ_INT(decode("4\r\nabcd\r", 8, 0, out, &n, &end), HTTP_CHUNKED_NEED);
    CHECK_EQ_INT(decode("0\r\nX: y\r\n", 9, 0, out, &n, &end), HTTP_CHUNKED_NEED);
}

#define BAD(lit)                                                                                   \
    do {                                                                                           \
        char o_[64];                                                                               \
        size_t n_, e_;                                                                             \
        for (size_t c_ = 0; c_ < 4; c_++)                                                          \
            CHECK_EQ_INT(decode(lit, sizeof(lit) - 1, c_, o_, &n_, &e_), HTTP_CHUNKED_ERROR);      \
    } while (0)

static void test_bad(void)
{
    BAD("g\r\n");                      /* not hex */
    BAD("\r\n");                       /* no size */
    BAD("-1\r\n");                     /* sign */
    BAD("0x5\r\nhello\r\n");           /* prefix */
    BAD("00000000000000005\r\nhello"); /* 17 digits */
    BAD("40000000000001\r\n");         /* over 2^53 */
    BAD("5\nhello\r\n");               /* bare LF */
    BAD("5\r\r\nhello");               /* bare CR */
    BAD("5\r\nhelloXY0\r\n\r\n");      /* data longer than its size */
    BAD("5\r\nhello\n0\r\n\r\n");      /* LF without CR after data */
    BAD("5 x\x01\r\nhello\r\n");       /* CTL in an extension */
    BAD("0\r\n: y\r\n\r\n");           /* trailer without a name */
    BAD("0\r\n y\r\n\r\n");            /* obs-fold trailer */
    BAD("0\r\n\r\r");                  /* final CR without LF */
    BAD("0\r\nX: y\n\r\n");            /* bare LF in a trailer */

    /* An extension up to the bound is fine; one byte more is not. */
    char ext[600];
    size_t n = 0;
    ext[n++] = '1';
    ext[n++] = ';';
    while (n < 1 + HTTP_CHUNKED_MAX_EXT) ext[n++] = 'e';
    memcpy(ext + n, "\r\nx\r\n0\r\n\r\n", 10);
    char out[8];
    size_t on, end;
    CHECK_EQ_INT(decode(ext, n + 10, 0, out, &on, &end), HTTP_CHUNKED_DONE);
    memmove(ext + n + 1, ext + n, 10);
    ext[n] = 'e';
    CHECK_EQ_INT(decode(ext, n + 11, 0, out, &on, &end), HTTP_CHUNKED_ERROR);

    /* Trailers are bounded in all. */
    static char tr[HTTP_CHUNKED_MAX_TRAILER + 64];
    size_t t = 0;
    memcpy(tr, "0\r\n", 3);
    t = 3;
    while (t + 13 + 2 <= sizeof tr) {
        memcpy(tr + t, "X: abcdefgh\r\n", 13);
        t += 13;
    }
    memcpy(tr + t, "\r\n", 2);
    CHECK_EQ_INT(decode(tr, t + 2, 0, out, &on, &end), HTTP_CHUNKED_ERROR);

    /* After an error or the end, the state stays. */
    http_chunked_t d;
    http_chunked_init(&d);
    size_t used, dlen;
    const char *data;
    CHECK_EQ_INT(http_chunked_feed(&d, "z", 1, &used, &data, &dlen), HTTP_CHUNKED_ERROR);
    CHECK_EQ_INT(http_chunked_feed(&d, "0\r\n\r\n", 5, &used, &data, &dlen), HTTP_CHUNKED_ERROR);
    http_chunked_init(&d);
    CHECK_EQ_INT(http_chunked_feed(&d, "0\r\n\r\n1", 6, &used, &data, &dlen), HTTP_CHUNKED_DONE);
    CHECK_EQ_INT(used, 5);
    CHECK_EQ_INT(http_chunked_feed(&d, "1", 1, &used, &data, &dlen), HTTP_CHUNKED_DONE);
    CHECK_EQ_INT(used, 0);
}

int main(void)
{
    RUN(test_every_split);
    RUN(test_empty_and_big);
    RUN(test_bad);
    return UNIT_SUMMARY();
}
