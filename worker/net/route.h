/* The route table type and its matcher; the table itself is worker/api's
 * (worker/api/routes.c), handed to the transport once at start-up
 * (net->routes). One table for WebSocket endpoints, Engine.IO and REST:
 * the transport looks a request up here and calls what the route names,
 * after the auth hook (net.h) checked the route's requirement. GET
 * /openapi.json is generated from the same table (route_t.doc).
 *
 * Patterns. A pattern is literal text with `{name}` segments: `{id}`
 * matches one non-empty path segment (no '/'), never "." or ".." (a
 * proxy may have normalised those: such a path matches nothing, 404).
 * Matching is on the raw request path: nothing is percent-decoded, so
 * "%2F" is three characters of a segment and never a separator; parameters
 * are kept literal (the handler validates them: ids refuse '%'). A trailing
 * slash is significant ("/health/" is not "/health"): a table that wants
 * both lists both (the two Socket.IO paths).
 *
 * Methods. HTTP routes list theirs (RM_* bits); a path that matches with
 * another method is ROUTE_WRONG_METHOD with the allowed set (the 405's
 * Allow header). WebSocket and raw routes take the path for every method:
 * the handshake answers a wrong one (400, or 426 without Upgrade), a raw
 * handler (Engine.IO) answers everything itself, OPTIONS included.
 *
 * Lifetimes: the table is static (it outlives every request); the
 * parameters of a match point into the request path (valid while the
 * request is). */
#ifndef RAGWS_WORKER_NET_ROUTE_H
#define RAGWS_WORKER_NET_ROUTE_H

#include <stddef.h>

#include "protocol/http_parser.h"
#include "protocol/openapi.h"
#include "worker/net/conn.h"

/* A WebSocket endpoint: what happens on its connections. Each endpoint's
 * JSON shapes live in protocol/; its behaviour in worker/api/ws_*.c. */
typedef struct endpoint {
    const char *path;               /* for logs only: the route table says where it is served */
    int no_rate_limit;              /* admin producers (/ws/publish) stream at high rates */
    int own_auth;                   /* authenticates inside its protocol (Socket.IO CONNECT) */
    int binary_refused_in_protocol; /* answers binary in its own protocol, no 1003 */
    const char *channel;            /* subscribed on open, NULL for none */
    /* open_arg: from the router, a const ws_route_open_t * (the request's
     * path parameters and query); else what the caller of ws_upgrade passed. */
    void (*on_open)(conn_t *c, void *open_arg);
    /* A complete, UTF-8 valid, rate-limited text message. */
    void (*on_text)(conn_t *c, const char *msg, size_t len);
    void (*on_close)(conn_t *c);
    /* This endpoint's error message shape (S4.0 codes). */
    void (*send_error)(conn_t *c, const char *code, const char *message);
} endpoint_t;

enum route_method {
    RM_GET = 1 << 0,
    RM_HEAD = 1 << 1,
    RM_POST = 1 << 2,
    RM_PUT = 1 << 3,
    RM_DELETE = 1 << 4,
    RM_PATCH = 1 << 5,
    RM_OPTIONS = 1 << 6,
};

enum route_kind {
    ROUTE_HTTP = 0, /* a REST handler */
    ROUTE_WS,       /* a WebSocket endpoint (426 without Upgrade) */
    ROUTE_RAW,      /* takes the path over: every method and upgrade (Engine.IO) */
    /* A REST handler for large bodies: `http` is called with the head only
     * (body NULL, after the auth hook), and either answers or takes the
     * body as it arrives with http_body_stream (worker/net/http.h). */
    ROUTE_STREAM,
};

/* Who may call the route. ROUTE_AUTH_TOKEN: a JWT when auth.mode = jwt and
 * auth.endpoints names the path; ROUTE_AUTH_ADMIN: the admin token (or a
 * loopback client without one), an Origin listed by name. */
enum route_auth { ROUTE_AUTH_NONE = 0, ROUTE_AUTH_TOKEN, ROUTE_AUTH_ADMIN };

#define ROUTE_MAX_PARAMS 4
/* Longest caller identity (JWT sub) the auth hook hands to a handler. */
#define ROUTE_SUB_MAX 256

typedef struct route_param {
    const char *name; /* into the pattern, without the braces */
    size_t name_len;
    const char *value; /* into the request path */
    size_t len;
} route_param_t;

typedef struct route_params {
    unsigned n;
    route_param_t p[ROUTE_MAX_PARAMS];
    /* Set by the auth hook: the caller's JWT sub ("" for none) when
     * auth.mode = jwt, NULL when auth is off (every conversation readable). */
    const char *owner;
    char sub[ROUTE_SUB_MAX];
} route_params_t;

/* What the router hands a WebSocket route's on_open: the path parameters
 * and the query of the request, copied (switching to WebSocket frees the
 * request). req holds the request line only (target, path, query; no
 * headers), enough for route_param and http_query_param. Valid during
 * on_open only. */
typedef struct ws_route_open {
    route_params_t params;
    http_request_t req;
} ws_route_open_t;

typedef void (*route_http_fn)(conn_t *c, const http_request_t *req, const route_params_t *params,
                              const char *body, size_t body_len);
/* Returns 1 when answered (the request may be consumed), -1 when the
 * connection changed hands (upgraded, handed over or closed). rest: the
 * bytes after this request. */
typedef int (*route_raw_fn)(conn_t *c, const http_request_t *req, const char *body, size_t body_len,
                            const char *rest, size_t rest_len);

typedef struct route {
    const char *pattern;
    unsigned methods; /* RM_* (HTTP routes; documentation for the others) */
    unsigned char kind;
    unsigned char auth;
    const endpoint_t *ws;
    route_http_fn http;
    route_raw_fn raw;
    const char *summary; /* one line, for the OpenAPI document */
    /* The rest of its OpenAPI description (protocol/openapi.h): operation
     * id, tag, body schemas per status, parameters. */
    openapi_doc_t doc;
} route_t;

enum route_match_rc { ROUTE_NOT_FOUND = 0, ROUTE_FOUND, ROUTE_WRONG_METHOD };

typedef struct route_match {
    const route_t *route; /* FOUND: the route; WRONG_METHOD: the first one of the path */
    unsigned allow;       /* WRONG_METHOD: the methods the path takes */
} route_match_t;

/* The RM_* bit of a method name, 0 for one not listed. */
unsigned route_method_bit(const char *method, size_t len);

/* Look (method, path) up in table[0..n). params may be NULL. */
int route_match(const route_t *table, size_t n, const char *method, size_t mlen, const char *path,
                size_t len, route_params_t *params, route_match_t *m);

/* Does pattern match path[0..len)? With prefix, it is enough that the
 * path is a prefix of something the pattern matches (auth.endpoints
 * items "prefix*"). Parameters are stored when params is not NULL. */
int route_pattern_match(const char *pattern, const char *path, size_t len, int prefix,
                        route_params_t *params);

/* The value of parameter `name` copied NUL-terminated into out; its length,
 * or -1 when there is none or it does not fit in outlen. */
int route_param(const route_params_t *params, const char *name, char *out, size_t outlen);

/* "Allow: GET, HEAD\r\n" for a method set; the length written. */
int route_allow_header(unsigned methods, char *out, size_t outlen);

#endif
