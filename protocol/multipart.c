/* Streaming multipart/form-data parser; see multipart.h.
 *
 * The delimiter is CRLF "--" boundary. The body's very first boundary may
 * come without the CRLF, so parsing starts as if the CRLF had been seen.
 * A boundary contains no CR (RFC 2046 bchars), so the only CR of the
 * delimiter is its first byte: when a partial match fails, none of the
 * matched bytes can start another match, and they go out as data as they
 * are (a span of p->delim). */
#include "protocol/multipart.h"

#include <string.h>

enum {
    ST_PREAMBLE, /* before the first boundary: discarded */
    ST_DATA,     /* a part's data */
    ST_AFTER,    /* just after a boundary: "--", whitespace or CRLF */
    ST_DASH,     /* one '-' of a close delimiter */
    ST_PAD,      /* whitespace after a boundary */
    ST_AFTER_LF, /* LF of the CRLF after a boundary */
    ST_HEADER,   /* a part header line */
    ST_HEADER_LF,
    ST_EPILOGUE, /* after the close delimiter: ignored */
    ST_ERROR,
};

#define MAX_PAD 64

static int lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen) return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
    return 1;
}

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
    return c != 0 && memchr("!#$%&'*+-.^_`|~", c, 15) != NULL;
}

static int is_ows(unsigned char c) { return c == ' ' || c == '\t'; }

/* RFC 2046 bchars (space allowed, but not last). */
static int is_bchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
    return c != 0 && memchr("'()+_,-./:=? ", c, 13) != NULL;
}

static int fail(mp_parser_t *p, const char *why)
{
    p->state = ST_ERROR;
    if (!p->error) p->error = why;
    return MP_ERROR;
}

static const char *skip_ows(const char *s, const char *e)
{
    while (s < e && is_ows((unsigned char)*s)) s++;
    return s;
}

/* A token or quoted-string value at [*ps, e) into out (NUL-terminated,
 * quoted-pairs undone). Its length, or -1 (bad syntax, NUL, too long). */
static int param_value(const char **ps, const char *e, char *out, size_t outlen)
{
    const char *s = *ps;
    size_t n = 0;
    if (s < e && *s == '"') {
        for (s++;; s++) {
            if (s >= e) return -1;
            unsigned char c = (unsigned char)*s;
            if (c == '"') break;
            if (c == '\\' && ++s >= e) return -1;
            c = (unsigned char)*s;
            if (c == 0 || (c < 0x20 && c != '\t') || c == 0x7f || n + 1 >= outlen) return -1;
            out[n++] = (char)c;
        }
        s++;
    } else {
        for (; s < e && is_tchar((unsigned char)*s); s++) {
            if (n + 1 >= outlen) return -1;
            out[n++] = *s;
        }
        if (n == 0) return -1;
    }
    out[n] = 0;
    *ps = s;
    return (int)n;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = (unsigned char)lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* RFC 5987 ext-value "UTF-8'lang'pct-text" decoded in place. Its length or -1. */
static int ext_value(char *v, size_t len)
{
    char *q1 = memchr(v, '\'', len);
    char *q2 = q1 ? memchr(q1 + 1, '\'', len - (size_t)(q1 + 1 - v)) : NULL;
    if (!q2 || !ieq(v, (size_t)(q1 - v), "utf-8")) return -1;
    size_t n = 0;
    for (char *s = q2 + 1; s < v + len; s++) {
        if (*s == '%') {
            if (v + len - s < 3) return -1;
            int hi = hexval((unsigned char)s[1]), lo = hexval((unsigned char)s[2]);
            if (hi < 0 || lo < 0 || (hi | lo) == 0) return -1;
            v[n++] = (char)(hi << 4 | lo);
            s += 2;
        } else if (*s == '\'') {
            return -1;
        } else {
            v[n++] = *s;
        }
    }
    v[n] = 0;
    return (int)n;
}

/* One "; name=value" parameter of Content-Disposition. */
static int disposition_param(mp_parser_t *p, const char **ps, const char *e, int *star)
{
    const char *s = skip_ows(*ps, e), *n = s;
    while (s < e && is_tchar((unsigned char)*s)) s++;
    size_t nlen = (size_t)(s - n);
    s = skip_ows(s, e);
    if (!nlen || s >= e || *s != '=') return -1;
    s = skip_ows(s + 1, e);
    char val[MP_FILENAME_MAX];
    int vlen = param_value(&s, e, val, sizeof val);
    if (vlen < 0) return -1;
    mp_part_t *part = &p->part;
    if (ieq(n, nlen, "name")) {
        if (p->has_name || (size_t)vlen >= sizeof part->name) return -1;
        memcpy(part->name, val, (size_t)vlen + 1);
        p->has_name = 1;
    } else if (ieq(n, nlen, "filename*")) {
        if (*star || (vlen = ext_value(val, (size_t)vlen)) < 0) return -1;
        memcpy(part->filename, val, (size_t)vlen + 1);
        part->filename_len = (size_t)vlen;
        part->has_filename = *star = 1;
    } else if (ieq(n, nlen, "filename")) {
        if (!*star) { /* filename* wins whatever the order */
            memcpy(part->filename, val, (size_t)vlen + 1);
            part->filename_len = (size_t)vlen;
        }
        part->has_filename = 1;
    }
    *ps = s;
    return 0;
}

static int parse_disposition(mp_parser_t *p, const char *s, const char *e)
{
    const char *t = s;
    while (s < e && is_tchar((unsigned char)*s)) s++;
    if (!ieq(t, (size_t)(s - t), "form-data") || p->has_disposition) return -1;
    p->has_disposition = 1;
    int star = 0;
    for (;;) {
        s = skip_ows(s, e);
        if (s == e) return p->has_name ? 0 : -1;
        if (*s != ';') return -1;
        s++;
        if (disposition_param(p, &s, e, &star) < 0) return -1;
    }
}

/* A complete header line in p->line (without CRLF). */
static int header_line(mp_parser_t *p)
{
    const char *s = p->line, *e = p->line + p->line_len, *n = s;
    while (s < e && is_tchar((unsigned char)*s)) s++;
    if (s == n || s == e || *s != ':') return fail(p, "bad part header");
    size_t nlen = (size_t)(s - n);
    s = skip_ows(s + 1, e);
    while (e > s && is_ows((unsigned char)e[-1])) e--;
    if (ieq(n, nlen, "content-disposition")) {
        if (parse_disposition(p, s, e) < 0) return fail(p, "bad Content-Disposition");
    } else if (ieq(n, nlen, "content-type")) {
        size_t vlen = (size_t)(e - s);
        if (vlen >= sizeof p->part.content_type || p->part.content_type[0])
            return fail(p, "bad part Content-Type");
        memcpy(p->part.content_type, s, vlen);
        p->part.content_type[vlen] = 0;
    }
    return MP_NEED;
}

/* A byte of the header section. Returns MP_NEED, MP_PART_BEGIN or MP_ERROR. */
static int header_byte(mp_parser_t *p, unsigned char c)
{
    if (++p->head_len > MP_HEADERS_MAX) return fail(p, "part headers too large");
    if (p->state == ST_HEADER_LF) {
        if (c != '\n') return fail(p, "bare CR in part headers");
        p->state = ST_HEADER;
        if (p->line_len == 0) { /* the empty line: data follows */
            if (!p->has_disposition) return fail(p, "part without Content-Disposition");
            p->state = ST_DATA;
            return MP_PART_BEGIN;
        }
        int rc = header_line(p);
        p->line_len = 0;
        return rc;
    }
    if (c == '\r') {
        p->state = ST_HEADER_LF;
        return MP_NEED;
    }
    /* No CTLs, no bare LF, no obs-fold (a line starting with whitespace). */
    if ((c < 0x20 && c != '\t') || c == 0x7f || (p->line_len == 0 && is_ows(c)))
        return fail(p, "bad part header");
    if (p->line_len >= MP_LINE_MAX) return fail(p, "part header line too long");
    p->line[p->line_len++] = (char)c;
    return MP_NEED;
}

static void begin_headers(mp_parser_t *p)
{
    p->state = ST_HEADER;
    p->line_len = 0;
    p->head_len = 0;
    p->has_disposition = p->has_name = 0;
    memset(&p->part, 0, sizeof p->part);
}

/* A byte right after a boundary. */
static int after_byte(mp_parser_t *p, unsigned char c)
{
    switch (p->state) {
    case ST_AFTER:
        if (c == '-') {
            p->state = ST_DASH;
            return MP_NEED;
        }
        p->pad = 0;
        p->state = ST_PAD;
        /* fall through */
    case ST_PAD:
        if (c == '\r') {
            p->state = ST_AFTER_LF;
        } else if (!is_ows(c) || ++p->pad > MAX_PAD) {
            return fail(p, "bad text after a boundary");
        }
        return MP_NEED;
    case ST_DASH:
        if (c != '-') return fail(p, "bad text after a boundary");
        p->state = ST_EPILOGUE;
        return MP_NEED;
    default: /* ST_AFTER_LF */
        if (c != '\n') return fail(p, "bad text after a boundary");
        begin_headers(p);
        return MP_NEED;
    }
}

/* Preamble or data: look for the delimiter. Returns MP_DATA with a span,
 * MP_PART_END, or MP_NEED with everything consumed. */
static int scan_data(mp_parser_t *p, const char *in, size_t len, size_t *i, const char **data,
                     size_t *data_len)
{
    int keep = p->state == ST_DATA;
    while (*i < len) {
        if (p->match == 0) {
            const char *cr = memchr(in + *i, '\r', len - *i);
            size_t end = cr ? (size_t)(cr - in) : len;
            if (end > *i && keep) {
                *data = in + *i;
                *data_len = end - *i;
                *i = end;
                return MP_DATA;
            }
            *i = end;
            if (!cr) return MP_NEED;
        }
        if (in[*i] == p->delim[p->match]) {
            (*i)++;
            if (++p->match == p->delim_len) {
                p->match = 0;
                p->state = ST_AFTER;
                return keep ? MP_PART_END : MP_NEED;
            }
            continue;
        }
        /* Not a delimiter after all: what matched was data. */
        size_t m = p->match;
        p->match = 0;
        if (keep) {
            *data = p->delim;
            *data_len = m;
            return MP_DATA;
        }
    }
    return MP_NEED;
}

int mp_feed(mp_parser_t *p, const char *in, size_t len, size_t *used, const char **data,
            size_t *data_len)
{
    size_t i = 0;
    int rc = MP_NEED;
    *data = NULL;
    *data_len = 0;
    while (i < len && rc == MP_NEED) {
        switch (p->state) {
        case ST_ERROR: rc = MP_ERROR; break;
        case ST_EPILOGUE: i = len; break;
        case ST_PREAMBLE:
        case ST_DATA:
            /* the preamble's end is no event: the loop goes on with the headers */
            rc = scan_data(p, in, len, &i, data, data_len);
            break;
        case ST_HEADER:
        case ST_HEADER_LF: rc = header_byte(p, (unsigned char)in[i++]); break;
        default: rc = after_byte(p, (unsigned char)in[i++]); break;
        }
    }
    *used = i;
    return p->state == ST_ERROR ? MP_ERROR : rc;
}

int mp_finish(mp_parser_t *p)
{
    if (p->state == ST_EPILOGUE) return 0;
    if (p->state != ST_ERROR) fail(p, "multipart body ends before its close delimiter");
    return -1;
}

int mp_init(mp_parser_t *p, const char *boundary)
{
    size_t n = strlen(boundary);
    memset(p, 0, sizeof *p);
    if (n == 0 || n > MP_BOUNDARY_MAX || boundary[n - 1] == ' ') return -1;
    for (size_t i = 0; i < n; i++)
        if (!is_bchar((unsigned char)boundary[i])) return -1;
    memcpy(p->delim, "\r\n--", 4);
    memcpy(p->delim + 4, boundary, n);
    p->delim_len = (uint8_t)(n + 4);
    p->state = ST_PREAMBLE;
    p->match = 2; /* the first boundary may open the body without a CRLF */
    return 0;
}

int mp_boundary(const char *ctype, size_t len, char out[MP_BOUNDARY_MAX + 1])
{
    const char *s = ctype, *e = ctype + len, *t = s;
    while (s < e && *s != ';' && !is_ows((unsigned char)*s)) s++;
    if (!ieq(t, (size_t)(s - t), "multipart/form-data")) return -1;
    int found = -1;
    for (;;) {
        s = skip_ows(s, e);
        if (s == e) break;
        if (*s != ';') return -1;
        s = skip_ows(s + 1, e);
        const char *n = s;
        while (s < e && is_tchar((unsigned char)*s)) s++;
        size_t nlen = (size_t)(s - n);
        if (!nlen || s >= e || *s != '=') return -1;
        s++;
        char val[MP_BOUNDARY_MAX + 1];
        int vlen = param_value(&s, e, val, sizeof val);
        if (vlen < 0) return -1;
        if (ieq(n, nlen, "boundary")) {
            if (found >= 0) return -1;
            memcpy(out, val, (size_t)vlen + 1);
            found = vlen;
        }
    }
    if (found <= 0 || out[found - 1] == ' ') return -1;
    for (int i = 0; i < found; i++)
        if (!is_bchar((unsigned char)out[i])) return -1;
    return found;
}
