/* Streaming chunked decoder; see http_chunked.h.
 *
 * A byte-at-a-time state machine for the framing, with chunk data handed
 * out as one span per call (up to the end of the chunk or of the input):
 * no copy, and no work per data byte. */
#include "protocol/http_chunked.h"

#include <string.h>

#define SIZE_MAX_VALUE (UINT64_C(1) << 53)

enum {
    ST_SIZE0,    /* first hex digit of a size line */
    ST_SIZE,     /* more hex digits, ';', BWS or CR */
    ST_EXT,      /* chunk extension, up to CR */
    ST_SIZE_LF,  /* LF after the size line */
    ST_DATA,     /* chunk data */
    ST_DATA_CR,  /* CR after chunk data */
    ST_DATA_LF,  /* LF after chunk data */
    ST_TR_START, /* start of a trailer line (or the final CRLF) */
    ST_TR_LINE,  /* inside a trailer field line */
    ST_TR_LINE_LF,
    ST_END_LF, /* LF of the final empty line */
    ST_DONE,
    ST_ERROR,
};

void http_chunked_init(http_chunked_t *d) { memset(d, 0, sizeof *d); }

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Field text: visible characters, SP, HTAB and obs-text; no CTLs. */
static int is_text(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

/* One framing byte (not chunk data). Returns the new state. */
static uint8_t size_byte(http_chunked_t *d, unsigned char c)
{
    int h = hexval(c);
    switch (d->state) {
    case ST_SIZE0:
        if (h < 0) return ST_ERROR;
        d->left = (uint64_t)h;
        d->digits = 1;
        return ST_SIZE;
    case ST_SIZE:
        if (h >= 0) {
            if (++d->digits > HTTP_CHUNKED_MAX_DIGITS) return ST_ERROR;
            d->left = d->left << 4 | (uint64_t)h;
            return d->left > SIZE_MAX_VALUE ? ST_ERROR : ST_SIZE;
        }
        if (c == '\r') return ST_SIZE_LF;
        /* BWS before ';' or the extension itself (RFC 9112 7.1.1). */
        if (c == ';' || c == ' ' || c == '\t') {
            d->ext_len = 1;
            return ST_EXT;
        }
        return ST_ERROR;
    case ST_EXT:
        if (c == '\r') return ST_SIZE_LF;
        if (!is_text(c) || ++d->ext_len > HTTP_CHUNKED_MAX_EXT) return ST_ERROR;
        return ST_EXT;
    case ST_SIZE_LF:
        if (c != '\n') return ST_ERROR;
        d->ext_len = 0;
        return d->left ? ST_DATA : ST_TR_START;
    default: return ST_ERROR;
    }
}

static uint8_t trailer_byte(http_chunked_t *d, unsigned char c)
{
    if (d->state >= ST_TR_START && ++d->trailer_len > HTTP_CHUNKED_MAX_TRAILER) return ST_ERROR;
    switch (d->state) {
    case ST_DATA_CR: return c == '\r' ? ST_DATA_LF : ST_ERROR;
    case ST_DATA_LF: return c == '\n' ? ST_SIZE0 : ST_ERROR;
    case ST_TR_START:
        if (c == '\r') return ST_END_LF;
        /* A field line starts with a token character: never SP (obs-fold). */
        return c > 0x20 && c < 0x7f && c != ':' ? ST_TR_LINE : ST_ERROR;
    case ST_TR_LINE:
        if (c == '\r') return ST_TR_LINE_LF;
        return is_text(c) ? ST_TR_LINE : ST_ERROR;
    case ST_TR_LINE_LF: return c == '\n' ? ST_TR_START : ST_ERROR;
    case ST_END_LF: return c == '\n' ? ST_DONE : ST_ERROR;
    default: return ST_ERROR;
    }
}

int http_chunked_feed(http_chunked_t *d, const char *in, size_t len, size_t *used,
                      const char **data, size_t *data_len)
{
    size_t i = 0;
    *data = NULL;
    *data_len = 0;
    while (i < len && d->state != ST_DONE && d->state != ST_ERROR) {
        if (d->state == ST_DATA) {
            size_t n = len - i;
            if (n > d->left) n = (size_t)d->left;
            d->left -= n;
            if (!d->left) d->state = ST_DATA_CR;
            *data = in + i;
            *data_len = n;
            *used = i + n;
            return HTTP_CHUNKED_DATA;
        }
        unsigned char c = (unsigned char)in[i++];
        d->state = d->state <= ST_SIZE_LF ? size_byte(d, c) : trailer_byte(d, c);
    }
    *used = i;
    if (d->state == ST_ERROR) return HTTP_CHUNKED_ERROR;
    return d->state == ST_DONE ? HTTP_CHUNKED_DONE : HTTP_CHUNKED_NEED;
}
