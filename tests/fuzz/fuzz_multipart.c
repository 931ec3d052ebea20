/* libFuzzer target for protocol/multipart.c: the input's first bytes pick
 * a boundary length and a feed size, the rest is the body. Parsing in one
 * piece and in small pieces must agree on every event and byte, and part
 * names and file names must be NUL-terminated inside their bounds. */
#include "protocol/multipart.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) abort();                                                                      \
    } while (0)

static mp_parser_t parser;

static uint64_t run(const char *boundary, const char *buf, size_t size, size_t cut, int *fin)
{
    uint64_t h = 1469598103934665603u;
    REQUIRE(mp_init(&parser, boundary) == 0);
    size_t pos = 0;
    int rc = MP_NEED;
    while (pos < size && rc != MP_ERROR) {
        size_t stop = size - pos > cut ? pos + cut : size;
        while (pos < stop) {
            size_t used, dlen;
            const char *data;
            rc = mp_feed(&parser, buf + pos, stop - pos, &used, &data, &dlen);
            REQUIRE(used <= stop - pos);
            pos += used;
            if (rc == MP_DATA) {
                REQUIRE(dlen > 0 && data);
                for (size_t i = 0; i < dlen; i++) h = (h ^ (unsigned char)data[i]) * 1099511628211u;
            } else if (rc == MP_PART_BEGIN) {
                REQUIRE(memchr(parser.part.name, 0, sizeof parser.part.name));
                REQUIRE(memchr(parser.part.filename, 0, sizeof parser.part.filename));
                REQUIRE(strlen(parser.part.filename) <= parser.part.filename_len);
                REQUIRE(memchr(parser.part.content_type, 0, sizeof parser.part.content_type));
                h = (h ^ 0x100) * 1099511628211u;
            } else if (rc == MP_PART_END) {
                h = (h ^ 0x200) * 1099511628211u;
            } else {
                break;
            }
        }
    }
    *fin = rc == MP_ERROR ? -2 : mp_finish(&parser);
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t blen = 1 + data[0] % 8, cut = 1 + data[1] % 32;
    char boundary[16];
    memcpy(boundary, "boundary", blen);
    boundary[blen] = 0;
    const char *buf = (const char *)data + 2;
    size -= 2;
    int f1, f2;
    uint64_t h1 = run(boundary, buf, size, size ? size : 1, &f1);
    uint64_t h2 = run(boundary, buf, size, cut, &f2);
    REQUIRE(f1 == f2 && h1 == h2);

    char b[MP_BOUNDARY_MAX + 1];
    int n = mp_boundary(buf, size, b);
    REQUIRE(n == -1 || (n >= 1 && n <= MP_BOUNDARY_MAX && strlen(b) == (size_t)n));
    if (n > 0) REQUIRE(mp_init(&parser, b) == 0);
    return 0;
}
