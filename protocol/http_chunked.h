/* A strict, streaming decoder of the chunked transfer coding (RFC 9112
 * 7.1) for request bodies.
 *
 * The caller owns the bytes and the decoder state (a small struct, no
 * allocation at all): it feeds whatever arrived, in any split, and gets
 * back data spans that point into the bytes it fed (valid as long as
 * those are). Framing errors are final: bad or over-long hex sizes
 * (more than HTTP_CHUNKED_MAX_DIGITS digits or above 2^53), a missing
 * CRLF after a size line or after chunk data, a bare CR or LF, chunk
 * extensions over HTTP_CHUNKED_MAX_EXT bytes (their content is ignored),
 * trailer fields over HTTP_CHUNKED_MAX_TRAILER bytes in all (they are
 * checked for shape and ignored). Fuzzed by tests/fuzz/fuzz_chunked.c. */
#ifndef RAGWS_PROTOCOL_HTTP_CHUNKED_H
#define RAGWS_PROTOCOL_HTTP_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_CHUNKED_MAX_DIGITS  16
#define HTTP_CHUNKED_MAX_EXT     256
#define HTTP_CHUNKED_MAX_TRAILER 4096

enum http_chunked_rc {
    HTTP_CHUNKED_ERROR = -1, /* malformed: the connection cannot go on */
    HTTP_CHUNKED_NEED = 0,   /* every byte fed was consumed; feed more */
    HTTP_CHUNKED_DATA = 1,   /* a data span is handed out; call again with the rest */
    HTTP_CHUNKED_DONE = 2,   /* the last chunk and trailers ended the body */
};

typedef struct http_chunked {
    uint8_t state;
    uint8_t digits;       /* hex digits of the size line so far */
    uint16_t ext_len;     /* extension bytes of the size line so far */
    uint32_t trailer_len; /* trailer bytes so far */
    uint64_t left;        /* data bytes of the current chunk still due */
} http_chunked_t;

void http_chunked_init(http_chunked_t *d);

/* Decode in[0..len). *used: bytes consumed by this call (on DONE, the
 * bytes after it belong to the next request). On DATA, *data and
 * *data_len name the span (inside in[0..*used)). After ERROR or DONE
 * every further call returns the same. */
int http_chunked_feed(http_chunked_t *d, const char *in, size_t len, size_t *used,
                      const char **data, size_t *data_len);

#endif
