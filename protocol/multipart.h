/* A strict, streaming multipart/form-data parser (RFC 7578 over the
 * multipart syntax of RFC 2046 5.1).
 *
 * The caller owns the parser state (one fixed-size struct: no allocation)
 * and the bytes it feeds, in any split. Out come, in order: the start of
 * each part (its headers parsed into p->part), the part's data as spans,
 * and the end of the part. Data spans point into the bytes fed or, for
 * the few bytes that looked like the start of a delimiter and were not,
 * into the parser itself; either way they stay valid until the next call.
 * Part data is never buffered: only the current header line is
 * (MP_LINE_MAX), and a part's header section is bounded (MP_HEADERS_MAX).
 *
 * Understood part headers: Content-Disposition (form-data, with name,
 * filename and RFC 5987 filename* in UTF-8, which wins over filename) and
 * Content-Type; others are checked for shape and ignored. The preamble and
 * the epilogue are ignored. Errors are final (p->error says why): a part
 * without Content-Disposition form-data and a name, bad header syntax,
 * over-long names, a boundary followed by anything but "--" or
 * whitespace and CRLF; and, at the end (mp_finish), a body that never
 * reached the close delimiter. Fuzzed by tests/fuzz/fuzz_multipart.c. */
#ifndef RAGWS_PROTOCOL_MULTIPART_H
#define RAGWS_PROTOCOL_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define MP_BOUNDARY_MAX 70
#define MP_NAME_MAX     256  /* a field name, with its NUL */
#define MP_FILENAME_MAX 1024 /* a file name (bytes, UTF-8 not checked here), with its NUL */
#define MP_CTYPE_MAX    256  /* a part's Content-Type, with its NUL */
#define MP_LINE_MAX     2048 /* one part header line */
#define MP_HEADERS_MAX  8192 /* the header section of one part */

enum mp_rc {
    MP_ERROR = -1,     /* malformed (p->error) */
    MP_NEED = 0,       /* everything fed was consumed */
    MP_PART_BEGIN = 1, /* a part starts: p->part holds its headers */
    MP_DATA = 2,       /* a span of the current part's data */
    MP_PART_END = 3,   /* the current part ended */
};

typedef struct mp_part {
    char name[MP_NAME_MAX];
    char filename[MP_FILENAME_MAX];
    size_t filename_len;
    int has_filename;                /* filename or filename* was given (maybe empty) */
    char content_type[MP_CTYPE_MAX]; /* "" when absent */
} mp_part_t;

typedef struct mp_parser {
    uint8_t state;
    uint8_t delim_len; /* CRLF "--" boundary */
    uint8_t match;     /* delimiter bytes matched so far */
    uint8_t pad;       /* whitespace seen after a boundary */
    uint8_t has_disposition;
    uint8_t has_name;
    uint16_t line_len;
    uint32_t head_len;
    const char *error; /* static text, NULL until an error */
    char delim[4 + MP_BOUNDARY_MAX];
    char line[MP_LINE_MAX];
    mp_part_t part;
} mp_parser_t;

/* The boundary parameter of a Content-Type value that is
 * multipart/form-data, NUL-terminated into out: its length (1..70), or -1
 * when the type is another one or the boundary is missing or invalid. */
int mp_boundary(const char *ctype, size_t len, char out[MP_BOUNDARY_MAX + 1]);

/* boundary: 1..70 valid characters (as mp_boundary returns). 0, or -1. */
int mp_init(mp_parser_t *p, const char *boundary);

/* Parse in[0..len). *used: bytes consumed; on MP_DATA, *data and *data_len the
 * span. Call again with the rest until MP_NEED. */
int mp_feed(mp_parser_t *p, const char *in, size_t len, size_t *used, const char **data,
            size_t *data_len);

/* The body ended: 0 when the close delimiter was seen, else -1 (p->error). */
int mp_finish(mp_parser_t *p);

#endif
