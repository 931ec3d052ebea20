/* Unit tests for protocol/multipart.c: a sample body parsed fed in every
 * split gives the same parts and bytes; boundaries from Content-Type;
 * malformed bodies are refused. */
#include "tests/unit/unit.h"
#include "protocol/multipart.h"

#include <stdlib.h>

typedef struct result {
    int nparts;
    char names[4][MP_NAME_MAX];
    char files[4][MP_FILENAME_MAX];
    int has_file[4];
    char ctypes[4][MP_CTYPE_MAX];
    char data[4][256];
    size_t data_len[4];
    int ended[4];
    int rc; /* MP_ERROR or 0 (mp_finish) or -1 */
} result_t;

/* Feed body[0..len) in pieces of `cut` bytes (0: one piece) and at `at`
 * (a two-piece split when cut is 0 and at < len). */
static void parse(const char *boundary, const char *body, size_t len, size_t cut, size_t at,
                  result_t *r)
{
    static mp_parser_t p;
    memset(r, 0, sizeof *r);
    if (mp_init(&p, boundary) < 0) {
        r->rc = MP_ERROR;
        return;
    }
    size_t pos = 0;
    int cur = -1;
    while (pos < len) {
        size_t end = cut ? (len - pos > cut ? pos + cut : len) : (pos < at ? at : len);
        while (pos < end) {
            size_t used, dlen;
            const char *data;
            int rc = mp_feed(&p, body + pos, end - pos, &used, &data, &dlen);
            pos += used;
            if (rc == MP_ERROR) {
                r->rc = MP_ERROR;
                return;
            }
            if (rc == MP_PART_BEGIN && r->nparts < 4) {
                cur = r->nparts++;
                snprintf(r->names[cur], sizeof r->names[cur], "%s", p.part.name);
                snprintf(r->files[cur], sizeof r->files[cur], "%s", p.part.filename);
                snprintf(r->ctypes[cur], sizeof r->ctypes[cur], "%s", p.part.content_type);
                r->has_file[cur] = p.part.has_filename;
            } else if (rc == MP_DATA && cur >= 0) {
                if (r->data_len[cur] + dlen <= sizeof r->data[cur]) {
                    memcpy(r->data[cur] + r->data_len[cur], data, dlen);
                }
                r->data_len[cur] += dlen;
            } else if (rc == MP_PART_END && cur >= 0) {
                r->ended[cur] = 1;
            } else if (rc == MP_NEED) {
                break;
            }
        }
    }
    r->rc = mp_finish(&p);
}

static const char body[] =
    "preamble to ignore\r\n--XyZ\r\n"
    "Content-Disposition: form-data; name=\"title\"\r\n"
    "\r\n"
    "Caf\xc3\xa9 cr\xc3\xa8me\r\n"
    "--XyZ  \r\n"
    "content-disposition: form-data; name=file; filename=\"ignored.txt\"; "
    "filename*=UTF-8''r%C3%A9sum%C3%A9%20%F0%9F%93%84.txt\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "X-Other: ok\r\n"
    "\r\n"
    "line one\r\n\r\n--XyNot a boundary\r\r\n-\r\n--X\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".bin\"\r\n"
    "\r\n"
    "\r\n--XyZ--\r\n"
    "epilogue --XyZ garbage";

static void check_sample(const result_t *r)
{
    CHECK_EQ_INT(r->rc, 0);
    CHECK_EQ_INT(r->nparts, 3);
    CHECK_EQ_STR(r->names[0], "title");
    CHECK(!r->has_file[0]);
    CHECK(r->data_len[0] == 12 && memcmp(r->data[0], "Caf\xc3\xa9 cr\xc3\xa8me", 12) == 0);
    CHECK_EQ_STR(r->names[1], "file");
    CHECK_EQ_STR(r->files[1], "r\xc3\xa9sum\xc3\xa9 \xf0\x9f\x93\x84.txt");
    CHECK_EQ_STR(r->ctypes[1], "text/plain; charset=utf-8");
    const char *d1 = "line one\r\n\r\n--XyNot a boundary\r\r\n-\r\n--X";
    CHECK(r->data_len[1] == strlen(d1) && memcmp(r->data[1], d1, strlen(d1)) == 0);
    CHECK_EQ_STR(r->files[2], "a \"b\".bin");
    CHECK(r->has_file[2]);
    CHECK_EQ_INT(r->data_len[2], 0); /* the CRLF belongs to the delimiter */
    CHECK(r->ended[0] && r->ended[1] && r->ended[2]);
}

static void test_every_split(void)
{
    size_t len = sizeof body - 1;
    result_t r;
    for (size_t cut = 0; cut <= 80; cut++) {
        parse("XyZ", body, len, cut, len, &r);
        check_sample(&r);
    }
    for (size_t at = 0; at <= len; at++) {
        parse("XyZ", body, len, 0, at, &r);
        check_sample(&r);
    }
}

static void test_boundary(void)
{
    char b[MP_BOUNDARY_MAX + 1];
#define BND(s) mp_boundary(s, strlen(s), b)
    CHECK_EQ_INT(BND("multipart/form-data; boundary=abc"), 3);
    CHECK_EQ_STR(b, "abc");
    CHECK_EQ_INT(BND("Multipart/Form-Data;boundary=\"a b:c\""), 5);
    CHECK_EQ_STR(b, "a b:c");
    CHECK_EQ_INT(BND("multipart/form-data; charset=utf-8; "
                     "boundary=------------------------d74496d66958873e"),
                 40);
    CHECK_EQ_INT(BND("multipart/mixed; boundary=abc"), -1);
    CHECK_EQ_INT(BND("multipart/form-data"), -1);
    CHECK_EQ_INT(BND("multipart/form-data; boundary="), -1);
    CHECK_EQ_INT(BND("multipart/form-data; boundary=\"\""), -1);
    CHECK_EQ_INT(BND("multipart/form-data; boundary=\"ab \""), -1);
    CHECK_EQ_INT(BND("multipart/form-data; boundary=a; boundary=b"), -1);
    CHECK_EQ_INT(BND("multipart/form-data; boundary=\"a\rb\""), -1);
    CHECK_EQ_INT(BND("multipart/form-data; boundary=\"unterminated"), -1);
    char longb[128];
    memcpy(longb, "multipart/form-data; boundary=", 30);
    memset(longb + 30, 'x', 71);
    longb[101] = 0;
    CHECK_EQ_INT(BND(longb), -1);
    longb[100] = 0;
    CHECK_EQ_INT(BND(longb), 70);
    mp_parser_t p;
    CHECK_EQ_INT(mp_init(&p, ""), -1);
    CHECK_EQ_INT(mp_init(&p, "a\rb"), -1);
    CHECK_EQ_INT(mp_init(&p, b), 0);
}

#define BAD(lit)                                                                                   \
    do {                                                                                           \
        result_t r_;                                                                               \
        for (size_t c_ = 0; c_ < 3; c_++) {                                                        \
            parse("b", lit, sizeof(lit) - 1, c_, sizeof(lit) - 1, &r_);                            \
            CHECK(r_.rc != 0);                                                                     \
        }                                                                                          \
    } while (0)

static void test_bad(void)
{
    BAD("");                                                               /* no boundary */
    BAD("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nxx");        /* no close */
    BAD("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nxx\r\n--b"); /* cut at the end */
    BAD("--b\r\n\r\nxx\r\n--b--");                                         /* no disposition */
    BAD("--b\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--b--");
    BAD("--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--");           /* no name */
    BAD("--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--b--"); /* open quote */
    BAD("--b\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nx\r\n--b--");
    BAD("--b\r\nContent-Disposition: form-data; name=a\r\n folded\r\n\r\nx\r\n--b--");
    BAD("--b\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\nx\r\n--b--");
    BAD("--b\r\nBad Header: x\r\n\r\nx\r\n--b--");
    BAD("--bX\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b--");
    BAD("--b\r\nContent-Disposition: form-data; name=a; filename*=latin1''x\r\n\r\nx\r\n--b--");
    BAD("--b\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%00\r\n\r\nx\r\n--b--");
    BAD("--b\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%G1\r\n\r\nx\r\n--b--");
    BAD("--b\r\nContent-Disposition: form-data; name=a\r\n"
        "Content-Disposition: form-data; name=b\r\n\r\nx\r\n--b--");

    /* A header line over the bound. */
    static char big[MP_LINE_MAX + 128];
    size_t n = (size_t)snprintf(big, sizeof big, "--b\r\nX-Long: ");
    memset(big + n, 'a', MP_LINE_MAX);
    n += MP_LINE_MAX;
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\n\r\nx\r\n--b--");
    result_t r;
    parse("b", big, n, 0, n, &r);
    CHECK_EQ_INT(r.rc, MP_ERROR);

    /* Good: the close delimiter alone (no parts), and empty data. */
    parse("b", "--b--", 5, 0, 5, &r);
    CHECK_EQ_INT(r.rc, 0);
    CHECK_EQ_INT(r.nparts, 0);
    const char *e =
        "--b\r\nContent-Disposition: form-data; name=f; filename=\"\"\r\n\r\n\r\n--b--\r\n";
    parse("b", e, strlen(e), 0, strlen(e), &r);
    CHECK_EQ_INT(r.rc, 0);
    CHECK_EQ_INT(r.nparts, 1);
    CHECK(r.has_file[0] && r.files[0][0] == 0 && r.data_len[0] == 0);
}

/* A large part in small pieces: no data is held back beyond a delimiter's
 * worth. */
static void test_streaming(void)
{
    static char buf[70000];
    size_t n = (size_t)snprintf(
        buf, sizeof buf, "--bnd\r\nContent-Disposition: form-data; name=f; filename=x\r\n\r\n");
    size_t start = n;
    for (size_t i = 0; i < 65536; i++) buf[n++] = (char)(i % 7 == 0 ? '\r' : 'a' + i % 26);
    size_t dlen = n - start;
    memcpy(buf + n, "\r\n--bnd--", 9);
    n += 9;
    mp_parser_t p;
    mp_init(&p, "bnd");
    size_t pos = 0, got = 0;
    int ended = 0;
    while (pos < n) {
        size_t end = pos + 1000 < n ? pos + 1000 : n;
        while (pos < end) {
            size_t used, l;
            const char *d;
            int rc = mp_feed(&p, buf + pos, end - pos, &used, &d, &l);
            pos += used;
            if (rc == MP_DATA) {
                CHECK(memcmp(d, buf + start + got, l) == 0);
                got += l;
            }
            if (rc == MP_PART_END) ended = 1;
            if (rc == MP_NEED || rc == MP_ERROR) break;
        }
        if (pos < start + dlen) CHECK(got + 8 >= pos - start); /* at most the delimiter held */
    }
    CHECK_EQ_INT(got, dlen);
    CHECK(ended);
    CHECK_EQ_INT(mp_finish(&p), 0);
}

int main(void)
{
    RUN(test_every_split);
    RUN(test_boundary);
    RUN(test_bad);
    RUN(test_streaming);
    return UNIT_SUMMARY();
}
