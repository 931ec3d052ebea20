/* libFuzzer target for protocol/http_chunked.c: decode arbitrary bytes in
 * one piece and in pieces cut where the input's first byte says; both must
 * agree, and every span must lie inside what was fed. */
#include "protocol/http_chunked.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) abort();                                                                      \
    } while (0)

static int run(const char *buf, size_t size, size_t cut, uint64_t *sum, size_t *end)
{
    http_chunked_t d;
    http_chunked_init(&d);
    size_t pos = 0;
    int rc = HTTP_CHUNKED_NEED;
    *sum = 0;
    while (pos < size) {
        size_t stop = size - pos > cut ? pos + cut : size;
        while (pos < stop) {
            size_t used, dlen;
            const char *data;
            rc = http_chunked_feed(&d, buf + pos, stop - pos, &used, &data, &dlen);
            REQUIRE(used <= stop - pos);
            if (rc == HTTP_CHUNKED_DATA) {
                REQUIRE(dlen > 0 && data >= buf + pos && data + dlen <= buf + pos + used);
                for (size_t i = 0; i < dlen; i++) *sum = *sum * 31 + (unsigned char)data[i];
            } else {
                REQUIRE(data == NULL && dlen == 0);
            }
            pos += used;
            if (rc != HTTP_CHUNKED_DATA) break;
        }
        if (rc == HTTP_CHUNKED_ERROR || rc == HTTP_CHUNKED_DONE) break;
    }
    *end = pos;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t cut = 1 + data[0] % 16;
    const char *buf = (const char *)data + 1;
    size--;
    uint64_t s1, s2;
    size_t e1, e2;
    int r1 = run(buf, size, size ? size : 1, &s1, &e1);
    int r2 = run(buf, size, cut, &s2, &e2);
    /* A split never changes the outcome, only where the input ran out. */
    REQUIRE(r1 == r2 && s1 == s2 && e1 == e2);
    return 0;
}
