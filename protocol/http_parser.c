/* Strict HTTP/1.1 request-head parser; see http_parser.h.
 *
 * The parser is stateless: every call rescans buf from the start, which is
 * cheap because heads are small and bounded by max_head, and means a partial
 * head needs no saved state between reads. A line is only looked at once its
 * CRLF has arrived, so a valid prefix of a valid head is always
 * HTTP_INCOMPLETE, never an error. */
#include "protocol/http_parser.h"

#include <limits.h>
#include <string.h>

#define CL_MAX (UINT64_C(1) << 53) /* largest Content-Length we accept */

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
    return c != 0 && memchr("!#$%&'*+-.^_`|~", c, 15) != NULL;
}

static int is_ows(unsigned char c) { return c == ' ' || c == '\t'; }

/* field-vchar / SP / HTAB / obs-text: everything but the CTLs. */
static int is_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static int lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* ASCII case-insensitive equality; locale-independent on purpose. */
static int ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen) return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
    return 1;
}

static int name_is(const http_header_t *h, const char *name)
{
    return ieq(h->name, h->name_len, name, strlen(name));
}

/* Find the CRLF ending the line at p: 1 with *eol at the CR, 0 when it has not
 * arrived yet, HTTP_ERR_BAD on a bare CR or LF (RFC 9112 2.2 lets us refuse
 * them, and accepting them is how smuggling parsers disagree). */
static int find_eol(const char *p, const char *end, const char **eol)
{
    for (; p < end; p++) {
        if (*p == '\n') return HTTP_ERR_BAD;
        if (*p == '\r') {
            if (p + 1 == end) return 0;
            if (p[1] != '\n') return HTTP_ERR_BAD;
            *eol = p;
            return 1;
        }
    }
    return 0;
}

/* method SP origin-form SP HTTP-version, exactly one SP each. */
static int parse_request_line(const char *p, const char *eol, http_request_t *req)
{
    const char *s = p;
    while (p < eol && is_tchar((unsigned char)*p)) p++;
    if (p == s || p == eol || *p != ' ') return HTTP_ERR_BAD;
    req->method = s;
    req->method_len = (size_t)(p - s);

    s = ++p;
    while (p < eol && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f) p++;
    /* Only origin-form: absolute-form would let the client pick the authority
     * behind our back, and asterisk/authority-form have no use here. */
    if (p == s || p == eol || *p != ' ' || *s != '/') return HTTP_ERR_BAD;
    req->target = req->path = s;
    req->target_len = req->path_len = (size_t)(p - s);
    const char *q = memchr(s, '?', req->target_len);
    if (q) {
        req->path_len = (size_t)(q - s);
        req->query = q + 1;
        req->query_len = (size_t)(p - q - 1);
    }

    p++;
    if (eol - p != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' ||
        p[7] < '0' || p[7] > '9')
        return HTTP_ERR_BAD;
    if (p[5] != '1' || p[7] > '1') return HTTP_ERR_VERSION;
    req->minor_version = p[7] - '0';
    return 0;
}

/* field-name ":" OWS field-value OWS. A line starting with SP/HTAB (obs-fold)
 * or whitespace before the colon fails the token scan and is rejected. */
static int parse_field(const char *p, const char *eol, http_header_t *h)
{
    const char *s = p;
    while (p < eol && is_tchar((unsigned char)*p)) p++;
    if (p == s || p == eol || *p != ':') return HTTP_ERR_BAD;
    h->name = s;
    h->name_len = (size_t)(p - s);

    p++;
    while (p < eol && is_ows((unsigned char)*p)) p++;
    const char *e = eol;
    while (e > p && is_ows((unsigned char)e[-1])) e--;
    for (const char *c = p; c < e; c++)
        if (!is_value_char((unsigned char)*c)) return HTTP_ERR_BAD;
    h->value = p;
    h->value_len = (size_t)(e - p);
    return 0;
}

/* 1*DIGIT, at most 2^53 so it survives a trip through a double. */
static int parse_content_length(const char *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0) return -1;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
        if (v > CL_MAX) /* checked every digit, so v * 10 never wraps */
            return -1;
    }
    *out = v;
    return 0;
}

/* Transfer-Encoding fields: chunked alone is accepted (RFC 9112 6.1); any
 * other coding is not implemented, chunked twice or not last is refused. */
static int transfer_coding(const http_header_t *h, int *te)
{
    if (h->value_len == 0) return HTTP_ERR_BAD;
    if (*te) return HTTP_ERR_BAD; /* one field: a second is how parsers disagree */
    *te = 1;
    if (h->value_len == 7 && ieq(h->value, 7, "chunked", 7)) return 1;
    return http_value_has_token(h->value, h->value_len, "chunked") ? HTTP_ERR_BAD
                                                                   : HTTP_ERR_NOT_IMPL;
}

/* Framing and routing checks that need the whole field section. */
static int check_fields(http_request_t *req)
{
    int hosts = 0, te = 0, te_rc = 0, conn_close = 0, conn_ka = 0;

    for (size_t i = 0; i < req->n_headers; i++) {
        const http_header_t *h = &req->headers[i];
        if (name_is(h, "content-length")) {
            uint64_t v;
            if (parse_content_length(h->value, h->value_len, &v) < 0) return HTTP_ERR_BAD;
            /* RFC 9110 8.6: repeats are fine only if they agree. */
            if (req->has_content_length && v != req->content_length) return HTTP_ERR_BAD;
            req->content_length = v;
            req->has_content_length = 1;
        } else if (name_is(h, "transfer-encoding")) {
            int rc = transfer_coding(h, &te);
            if (rc == HTTP_ERR_BAD) return rc;
            te_rc = rc;
        } else if (name_is(h, "host")) {
            hosts++;
        } else if (name_is(h, "connection")) {
            conn_close |= http_value_has_token(h->value, h->value_len, "close");
            conn_ka |= http_value_has_token(h->value, h->value_len, "keep-alive");
        }
    }
    /* TE + CL is the classic smuggling vector (RFC 9112 6.3): refuse outright. */
    if (te && (req->has_content_length || req->minor_version == 0)) return HTTP_ERR_BAD;
    if (te_rc < 0) return te_rc;
    req->chunked = te_rc == 1;
    /* RFC 9112 3.2: exactly one Host in 1.1, never more than one. */
    if (hosts > 1 || (hosts == 0 && req->minor_version == 1)) return HTTP_ERR_BAD;
    req->keep_alive = !conn_close && (req->minor_version == 1 || conn_ka);
    return 0;
}

int http_parse_request(const char *buf, size_t len, size_t max_head, http_request_t *req)
{
    /* head_len <= max_head must fit the int we return. */
    if (max_head > INT_MAX / 2) max_head = INT_MAX / 2;

    req->method = req->target = req->path = req->query = NULL;
    req->method_len = req->target_len = req->path_len = req->query_len = 0;
    req->minor_version = 0;
    req->n_headers = 0;
    req->head_len = 0;
    req->content_length = 0;
    req->has_content_length = 0;
    req->chunked = 0;
    req->keep_alive = 0;

    if (len == 0) /* also keeps buf == NULL away from pointer arithmetic */
        return max_head == 0 ? HTTP_ERR_TOO_LARGE : HTTP_INCOMPLETE;

    /* Never look past max_head: a head that has not ended by then is too
     * large no matter what follows. */
    const char *p = buf, *end = buf + (len < max_head ? len : max_head), *eol = NULL;

    /* RFC 9112 2.2: ignore a stray CRLF or two before the request-line
     * (left over from a previous body); any more is garbage. */
    for (int i = 0; i < 2 && end - p >= 2 && p[0] == '\r' && p[1] == '\n'; i++) p += 2;

    for (int first = 1;; first = 0) {
        int rc = find_eol(p, end, &eol);
        if (rc < 0) return rc;
        if (rc == 0) return len >= max_head ? HTTP_ERR_TOO_LARGE : HTTP_INCOMPLETE;
        if (first) {
            rc = parse_request_line(p, eol, req);
        } else if (eol == p) {
            break; /* empty line: end of the head */
        } else if (req->n_headers == HTTP_MAX_HEADERS) {
            return HTTP_ERR_TOO_MANY;
        } else {
            rc = parse_field(p, eol, &req->headers[req->n_headers]);
            if (rc == 0) req->n_headers++;
        }
        if (rc < 0) return rc;
        p = eol + 2;
    }

    req->head_len = (size_t)(eol + 2 - buf);
    int rc = check_fields(req);
    return rc < 0 ? rc : (int)req->head_len;
}

const http_header_t *http_find_header(const http_request_t *req, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (ieq(req->headers[i].name, req->headers[i].name_len, name, len)) return &req->headers[i];
    return NULL;
}

int http_value_has_token(const char *value, size_t len, const char *token)
{
    size_t tlen = strlen(token);
    if (!value || tlen == 0) return 0;
    const char *p = value, *end = value + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *s = p, *e = comma ? comma : end;
        while (s < e && is_ows((unsigned char)*s)) s++;
        while (e > s && is_ows((unsigned char)e[-1])) e--;
        if (ieq(s, (size_t)(e - s), token, tlen)) return 1;
        p = comma ? comma + 1 : end;
    }
    return 0;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = (unsigned char)lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Next decoded byte of a query component, advancing *pp; -1 on a broken
 * escape, and on %00 because the result is handed out as a C string. */
static int query_byte(const char **pp, const char *end)
{
    const char *p = *pp;
    if (*p == '+') {
        *pp = p + 1;
        return ' ';
    }
    if (*p != '%') {
        *pp = p + 1;
        return (unsigned char)*p;
    }
    if (end - p < 3) return -1;
    int hi = hexval((unsigned char)p[1]), lo = hexval((unsigned char)p[2]);
    if (hi < 0 || lo < 0 || (hi | lo) == 0) return -1;
    *pp = p + 3;
    return hi << 4 | lo;
}

static int query_key_is(const char *p, const char *end, const char *name)
{
    while (p < end) {
        int c = query_byte(&p, end);
        if (c < 0 || *name == '\0' || c != (unsigned char)*name) return 0;
        name++;
    }
    return *name == '\0';
}

int http_query_param(const http_request_t *req, const char *name, char *out, size_t outlen)
{
    if (outlen) out[0] = '\0';
    if (!req->query || *name == '\0') return -1;

    const char *p = req->query, *end = req->query + req->query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (query_key_is(p, eq ? eq : e, name)) {
            /* First occurrence wins, even when it turns out unusable: a
             * later duplicate must not be reachable by spoiling the first. */
            size_t n = 0;
            for (const char *v = eq ? eq + 1 : e; v < e;) {
                int c = query_byte(&v, e);
                if (c < 0 || n + 1 >= outlen) {
                    if (outlen) out[0] = '\0';
                    return -1;
                }
                out[n++] = (char)c;
            }
            if (outlen == 0) return -1;
            out[n] = '\0';
            return n > INT_MAX ? -1 : (int)n;
        }
        p = amp ? amp + 1 : end;
    }
    return -1;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

int http_method_is(const http_request_t *req, const char *m)
{
    size_t n = strlen(m);
    return req->method_len == n && memcmp(req->method, m, n) == 0;
}

int http_query_has(const http_request_t *req, const char *name)
{
    size_t nl = strlen(name);
    const char *p = req->query, *end = p ? p + req->query_len : NULL;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        const char *ke = eq ? eq : e;
        if ((size_t)(ke - p) == nl && memcmp(p, name, nl) == 0) return 1;
        p = amp ? amp + 1 : end;
    }
    return 0;
}
