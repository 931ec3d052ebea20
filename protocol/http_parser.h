/* A small strict HTTP/1.1 request-head parser (RFC 9112).
 *
 * Zero-copy: every field points into the caller's buffer. Only the request
 * line and header fields are parsed; the body is framed by the caller with
 * content_length, or, when `chunked` is set, by the chunked coding
 * (protocol/http_chunked.h). Anything ambiguous (obs-fold, bare CR,
 * whitespace before the colon, conflicting Content-Length, Content-Length
 * together with Transfer-Encoding, Transfer-Encoding in HTTP/1.0, chunked
 * twice) is an error, never guessed; a coding other than chunked alone is
 * HTTP_ERR_NOT_IMPL (501). Fuzzed by
 * tests/fuzz/fuzz_http_parser.c. */
#ifndef RAGWS_WORKER_HTTP_PARSER_H
#define RAGWS_WORKER_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 64

enum {
    HTTP_INCOMPLETE = 0,
    HTTP_ERR_BAD = -1,       /* 400 */
    HTTP_ERR_TOO_LARGE = -2, /* 431: head over max_header_bytes */
    HTTP_ERR_VERSION = -3,   /* 505: not HTTP/1.0 or HTTP/1.1 */
    HTTP_ERR_NOT_IMPL = -4,  /* 501: a Transfer-Encoding other than chunked */
    HTTP_ERR_TOO_MANY = -5,  /* 431: more than HTTP_MAX_HEADERS fields */
};

typedef struct http_header {
    const char *name;
    size_t name_len;
    const char *value; /* leading/trailing whitespace trimmed */
    size_t value_len;
} http_header_t;

typedef struct http_request {
    const char *method;
    size_t method_len;
    const char *target; /* raw request-target (origin-form only) */
    size_t target_len;
    const char *path; /* target up to '?' */
    size_t path_len;
    const char *query; /* after '?', without it; NULL when absent */
    size_t query_len;
    int minor_version; /* 0 or 1 */
    http_header_t headers[HTTP_MAX_HEADERS];
    size_t n_headers;
    size_t head_len;         /* bytes of request line + fields + final CRLF */
    uint64_t content_length; /* 0 when absent */
    int has_content_length;
    int chunked;    /* Transfer-Encoding: chunked (then no Content-Length) */
    int keep_alive; /* per version default and Connection header */
} http_request_t;

/* Parse the request head at buf[0..len). Returns head_len (> 0) when the
 * head is complete, HTTP_INCOMPLETE when more bytes are needed (and len is
 * still under max_head), or a negative HTTP_ERR_*. */
int http_parse_request(const char *buf, size_t len, size_t max_head, http_request_t *req);

/* The request's method is m (exact, case-sensitive as RFC 9110 says). */
int http_method_is(const http_request_t *req, const char *m);

/* First header with this name (case-insensitive), or NULL. */
const http_header_t *http_find_header(const http_request_t *req, const char *name);

/* Does a comma-separated header value contain token (case-insensitive)? */
int http_value_has_token(const char *value, size_t len, const char *token);

/* Value of query parameter `name`, percent-decoded into out (NUL
 * terminated). Returns its length, or -1 when absent or too long. */
int http_query_param(const http_request_t *req, const char *name, char *out, size_t outlen);

/* Is `name` a key of the query, with or without a value ("?stream",
 * "?stream=1")? Keys are compared as sent (not decoded). */
int http_query_has(const http_request_t *req, const char *name);

/* Reason phrase for a status code ("OK", "Bad Request", ...). */
const char *http_status_text(int status);

#endif
