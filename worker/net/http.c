#include "worker/net/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "protocol/gateway.h"
#include "worker/net/http_body.h"
#include "worker/net/net.h"
#include "worker/net/route.h"
#include "worker/net/ws.h"

/* Make room for `want` more bytes of input, within max. */
static int in_reserve(conn_t *c, size_t want, size_t max)
{
    size_t need = (size_t)c->in_len + want;
    if (need > max) need = max;
    if (need <= c->in_cap) return 0;
    size_t cap = c->in_cap ? c->in_cap : 2048;
    while (cap < need) cap *= 2;
    if (cap > max) cap = max;
    char *p = realloc(c->in, cap);
    if (!p) return -1;
    c->in = p;
    c->in_cap = (uint32_t)cap;
    return 0;
}

static void in_discard(conn_t *c)
{
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
}

/* The allowed Origin to echo in Access-Control-Allow-Origin, if any: the
 * one of the request being answered on this connection (c->origin_*, set
 * while it is handled), else the one its pending asynchronous answer kept.
 * A handler may answer another connection's parked request (a POST that
 * completes a long-poll GET): that one gets its own request's Origin. */
static int cors_origin(const conn_t *c, const char **origin)
{
    if (c->origin_len) {
        *origin = c->in + c->origin_off;
        return (int)c->origin_len;
    }
    if (c->flags & CF_HTTP_PENDING) {
        const http_pending_t *p = c->ep_data;
        if (p && p->origin[0]) {
            *origin = p->origin;
            return (int)strlen(p->origin);
        }
    }
    return 0;
}

/* Remember the request's Origin when cors.allowed_origins allows it. */
static void set_origin(conn_t *c, const http_request_t *req)
{
    const http_header_t *o = http_find_header(req, "Origin");
    c->origin_len = 0;
    if (o && o->value_len && o->value_len <= UINT16_MAX &&
        config_origin_allowed(net->cfg, o->value, o->value_len)) {
        c->origin_off = (uint32_t)(o->value - c->in);
        c->origin_len = (uint16_t)o->value_len;
    }
}

static void parse_input(conn_t *c);

void http_feed(conn_t *c) { parse_input(c); }

http_pending_t *http_begin_async(conn_t *c, const http_request_t *req,
                                 void (*abort)(conn_t *c, void *data), void *data)
{
    http_pending_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->abort = abort;
    p->data = data;
    const http_header_t *o = http_find_header(req, "Origin");
    if (o && o->value_len < sizeof p->origin &&
        config_origin_allowed(net->cfg, o->value, o->value_len)) {
        memcpy(p->origin, o->value, o->value_len);
        p->origin[o->value_len] = 0;
    }
    c->ep_data = p;
    c->flags |= CF_HTTP_PENDING;
    return p;
}

void http_end_async(conn_t *c)
{
    if (!(c->flags & CF_HTTP_PENDING)) return;
    free(c->ep_data);
    c->ep_data = NULL;
    c->flags &= (uint16_t)~CF_HTTP_PENDING;
    /* The keep-alive idle time starts now, not when the request came. */
    c->deadline_ms = loop_now_ms(net->loop) + net->cfg->handshake_timeout_ms;
    /* Pipelined requests that arrived meanwhile are parsed from the loop
     * (http_resume), never from here: this may run inside parse_input of
     * this very connection (an answer ready at once, such as a long-poll
     * GET with packets queued), before that call consumed the request. */
    c->flags |= CF_HTTP_RESUME;
    conn_mark_dirty(c);
}

void http_resume(conn_t *c)
{
    c->flags &= (uint16_t)~CF_HTTP_RESUME;
    if (c->state != CONN_HTTP || (c->flags & CF_HTTP_PENDING)) return;
    parse_input(c);
    /* Reading stopped at the buffer limit while the answer was computed:
     * the socket may hold more, and its edge-triggered watch will not
     * fire again for bytes that were already there. */
    if (c->state == CONN_HTTP && !(c->flags & (CF_HTTP_PENDING | CF_CLOSE_AFTER_FLUSH)))
        http_on_readable(c);
}

void http_abort_async(conn_t *c)
{
    body_drop(c, "connection closed");
    if (!(c->flags & CF_HTTP_PENDING)) return;
    http_pending_t *p = c->ep_data;
    c->flags &= (uint16_t)~CF_HTTP_PENDING;
    c->ep_data = NULL;
    if (p && p->abort) p->abort(c, p->data);
    free(p);
}

void http_respond(conn_t *c, int status, const char *content_type, const char *body,
                  size_t body_len, const char *extra_headers)
{
    int keep = (c->flags & CF_KEEPALIVE) && !net->draining;
    const char *fmt = "HTTP/1.1 %d %s\r\nServer: ragws\r\n"
                      "Content-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: %s\r\n%s%.*s%s%s\r\n";
    const char *ctype = content_type ? content_type : "application/json";
    const char *origin = "";
    int olen = cors_origin(c, &origin);
    const char *pre = olen ? "Access-Control-Allow-Origin: " : "";
    const char *post = olen ? "\r\nVary: Origin\r\n" : "";
    const char *extra = extra_headers ? extra_headers : "";
    int n = snprintf(NULL, 0, fmt, status, http_status_text(status), ctype, body_len,
                     keep ? "keep-alive" : "close", pre, olen, origin, post, extra);
    /* HEAD: the same head, no body (RFC 9110 9.3.2). */
    size_t blen = (c->flags & CF_HEAD) ? 0 : body_len;
    outbuf_t *b = n < 0 ? NULL : outbuf_new((size_t)n + 1 + blen);
    if (!b) {
        conn_close(c, "out of memory");
        return;
    }
    snprintf(b->data, (size_t)n + 1, fmt, status, http_status_text(status), ctype, body_len,
             keep ? "keep-alive" : "close", pre, olen, origin, post, extra);
    b->len = (uint32_t)((size_t)n + blen);
    if (blen) memcpy(b->data + n, body, blen);
    if (!keep) c->flags |= CF_CLOSE_AFTER_FLUSH;
    if (c->body) c->body->answered = 1;
    stats_add(&net->stats->http_requests, 1);
    conn_queue(c, b);
}

void http_respond_error_hdr(conn_t *c, int status, const char *code, const char *message,
                            const char *extra_headers)
{
    /* the message may quote outside text: made valid, never NULL */
    char *s = gateway_error_body(code, message);
    static const char fallback[] =
        "{\"error\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"internal error\"}}";
    if (s)
        http_respond(c, status, "application/json", s, strlen(s), extra_headers);
    else
        http_respond(c, status, "application/json", fallback, sizeof fallback - 1, extra_headers);
    free(s);
    stats_add(&net->stats->errors, 1);
}

void http_respond_error(conn_t *c, int status, const char *code, const char *message)
{
    http_respond_error_hdr(c, status, code, message, NULL);
}

static int const_time_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen) return 0;
    unsigned char d = 0;
    for (size_t i = 0; i < alen; i++) d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int http_admin_allowed(const conn_t *c, const http_request_t *req)
{
    const char *tok = net->cfg->admin_token;
    if (!tok[0]) return conn_request_loopback(c, req);
    const http_header_t *h = http_find_header(req, "Authorization");
    if (h && h->value_len > 7 && strncasecmp(h->value, "Bearer ", 7) == 0)
        return const_time_eq(h->value + 7, h->value_len - 7, tok, strlen(tok));
    char q[512];
    int n = http_query_param(req, "token", q, sizeof q);
    return n >= 0 && const_time_eq(q, (size_t)n, tok, strlen(tok));
}

int http_origin_allowed(const http_request_t *req)
{
    const http_header_t *o = http_find_header(req, "Origin");
    /* Non-browser clients send no Origin: nothing to check. */
    return !o || config_origin_allowed(net->cfg, o->value, o->value_len);
}

int http_origin_listed(const http_request_t *req)
{
    const http_header_t *o = http_find_header(req, "Origin");
    return !o || config_origin_listed(net->cfg, o->value, o->value_len);
}

static int is_upgrade(const http_request_t *req)
{
    const http_header_t *u = http_find_header(req, "Upgrade");
    return u && http_value_has_token(u->value, u->value_len, "websocket");
}

/* A request on no WebSocket or raw route: CORS preflight, the auth hook
 * (the route's requirement), then 405, 404 or the route's handler. */
static void dispatch_http(conn_t *c, const http_request_t *req, int rc, const route_match_t *m,
                          route_params_t *params)
{
    if (http_method_is(req, "OPTIONS")) {
        http_respond(c, 204, "text/plain", "", 0,
                     "Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS\r\n"
                     "Access-Control-Allow-Headers: Authorization, Content-Type\r\n"
                     "Access-Control-Max-Age: 600\r\n");
        return;
    }
    params->owner = NULL;
    params->sub[0] = 0;
    if (net->hooks.http_gate && !net->hooks.http_gate(c, req, rc, m, params)) return;
    if (rc == ROUTE_WRONG_METHOD) {
        char allow[96];
        route_allow_header(m->allow, allow, sizeof allow);
        http_respond_error_hdr(c, 405, "METHOD_NOT_ALLOWED", "method not allowed on this path",
                               allow);
    } else if (rc == ROUTE_NOT_FOUND) {
        http_respond_error(c, 404, "NOT_FOUND", "no such endpoint");
    } else {
        m->route->http(c, req, params, c->in + req->head_len, (size_t)req->content_length);
    }
}

/* The route of the request decides: a raw handler (Engine.IO) takes it
 * over, a WebSocket route upgrades (426 without Upgrade), the rest is
 * REST. Returns 1 when the request may be consumed, -1 when the
 * connection changed state (upgraded, handed over or closed). */
static int dispatch(conn_t *c, const http_request_t *req, size_t total)
{
    route_params_t params;
    route_match_t m;
    int rc = route_match(net->routes, net->n_routes, req->method, req->method_len, req->path,
                         req->path_len, &params, &m);
    const route_t *r = m.route;
    if (rc == ROUTE_FOUND && r->kind == ROUTE_RAW)
        return r->raw(c, req, c->in + req->head_len, (size_t)req->content_length, c->in + total,
                      c->in_len - total);
    if (rc == ROUTE_FOUND && r->kind == ROUTE_WS && is_upgrade(req)) {
        ws_upgrade_route(c, req, r, c->in + total, c->in_len - total);
        return -1;
    }
    if (rc == ROUTE_FOUND && r->kind == ROUTE_WS)
        http_respond(c, 426, "text/plain", "WebSocket endpoint\n", 19,
                     "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
    else
        dispatch_http(c, req, rc, &m, &params);
    return 1;
}

/* The connection flags a new request sets. */
static void request_flags(conn_t *c, const http_request_t *req)
{
    c->flags |= CF_HAD_REQUEST;
    if (http_method_is(req, "HEAD"))
        c->flags |= CF_HEAD;
    else
        c->flags &= (uint16_t)~CF_HEAD;
    if (req->keep_alive)
        c->flags |= CF_KEEPALIVE;
    else
        c->flags &= (uint16_t)~CF_KEEPALIVE;
}

/* One complete request (head + body) at c->in. Returns bytes consumed, or
 * -1 when the connection changed state (upgraded or closed). */
static long handle_request(conn_t *c, const http_request_t *req, size_t total)
{
    request_flags(c, req);
    c->flags &= (uint16_t)~CF_CONTINUE_SENT;
    set_origin(c, req);
    int r = dispatch(c, req, total);
    c->origin_len = 0; /* it named a place in the request */
    return r < 0 || c->state == CONN_CLOSED ? -1 : (long)total;
}

/* Expect: 100-continue (RFC 9110 10.1.1): the client waits for it before
 * sending a body (curl does for large uploads). Once per request. */
static void send_continue(conn_t *c, const http_request_t *req)
{
    const http_header_t *e = http_find_header(req, "Expect");
    if (!e || req->minor_version == 0 || (c->flags & CF_CONTINUE_SENT)) return;
    if (!http_value_has_token(e->value, e->value_len, "100-continue")) return;
    c->flags |= CF_CONTINUE_SENT;
    conn_queue_copy(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* The head of a ROUTE_STREAM request: auth hook, then the handler takes
 * the body or answers. -1 when the connection is gone. */
static int stream_begin(conn_t *c, const http_request_t *req, const route_match_t *m,
                        route_params_t *params)
{
    set_origin(c, req);
    params->owner = NULL;
    params->sub[0] = 0;
    if (!net->hooks.http_gate || net->hooks.http_gate(c, req, ROUTE_FOUND, m, params))
        m->route->http(c, req, params, NULL, 0);
    c->origin_len = 0;
    if (c->state != CONN_HTTP) return -1;
    if (!c->body) return body_close(c, "handler dropped the body");
    if (c->body->ops) {
        send_continue(c, req);
        return 0;
    }
    if (!c->body->answered)
        http_respond_error(c, 500, "INTERNAL_ERROR", "the handler took no body and gave no answer");
    body_discard(c);
    return 0;
}

/* The body ended: the streaming handler's end, or the buffered request
 * handled as if it had come with a Content-Length. Bytes consumed or -1. */
static long body_finish(conn_t *c, http_request_t *req, size_t total)
{
    http_body_t *b = c->body;
    c->body = NULL;
    req->content_length = b->kept;
    if (!b->ops) {
        free(b);
        return handle_request(c, req, total);
    }
    request_flags(c, req);
    c->flags &= (uint16_t)~CF_CONTINUE_SENT;
    set_origin(c, req);
    b->ops->end(c, req, b->ud);
    c->origin_len = 0;
    free(b);
    return c->state == CONN_CLOSED ? -1 : (long)total;
}

/* A new request's head: streamed, chunked and buffered bodies get a body
 * state; others are complete once Content-Length bytes are here. Returns
 * bytes consumed, 0 to wait (or go on with the body), -1 to stop. */
static long start_request(conn_t *c, http_request_t *req)
{
    const ragws_config_t *cfg = net->cfg;
    route_params_t params;
    route_match_t m;
    int rc = route_match(net->routes, net->n_routes, req->method, req->method_len, req->path,
                         req->path_len, &params, &m);
    int stream = rc == ROUTE_FOUND && m.route->kind == ROUTE_STREAM;
    if (stream || req->chunked) {
        request_flags(c, req);
        if (!body_new(c, req)) {
            conn_close(c, "out of memory");
            return -1;
        }
        if (stream) return stream_begin(c, req, &m, &params) < 0 ? -1 : 0;
        send_continue(c, req);
        return 0;
    }
    if (req->content_length > cfg->max_body_bytes) {
        c->flags &= (uint16_t)~CF_KEEPALIVE;
        http_respond_error(c, 413, "PAYLOAD_TOO_LARGE", "request body over limits.max_body_bytes");
        return -1;
    }
    size_t total = req->head_len + (size_t)req->content_length;
    if (c->in_len < total) {
        if (in_reserve(c, total - c->in_len, total) < 0) conn_close(c, "out of memory");
        send_continue(c, req);
        return -1; /* wait for the rest of the body */
    }
    return handle_request(c, req, total);
}

static void parse_error(conn_t *c, int rc)
{
    int status = rc == HTTP_ERR_TOO_LARGE || rc == HTTP_ERR_TOO_MANY ? 431
                 : rc == HTTP_ERR_VERSION                            ? 505
                 : rc == HTTP_ERR_NOT_IMPL                           ? 501
                                                                     : 400;
    c->flags &= (uint16_t)~CF_KEEPALIVE;
    http_respond_error(c, status, "BAD_REQUEST",
                       status == 431   ? "request head too large"
                       : status == 505 ? "HTTP version not supported"
                       : status == 501 ? "only the chunked Transfer-Encoding is supported"
                                       : "malformed HTTP request");
}

static void parse_input(conn_t *c)
{
    const ragws_config_t *cfg = net->cfg;
    while (c->state == CONN_HTTP && c->in_len &&
           !(c->flags & (CF_CLOSE_AFTER_FLUSH | CF_HTTP_PENDING))) {
        http_request_t req;
        int rc = http_parse_request(c->in, c->in_len, cfg->max_header_bytes, &req);
        if (rc == HTTP_INCOMPLETE) return;
        if (rc < 0) {
            parse_error(c, rc);
            return;
        }
        long used;
        if (c->body) {
            size_t total = 0;
            int st = body_step(c, &total);
            if (st <= 0) return;
            used = body_finish(c, &req, total);
        } else {
            used = start_request(c, &req);
            if (used == 0) continue; /* a body state: go on with its bytes */
        }
        if (used < 0) return;
        memmove(c->in, c->in + used, c->in_len - (size_t)used);
        c->in_len -= (uint32_t)used;
        /* Keep-alive idle timeout starts again after each request. */
        c->deadline_ms = loop_now_ms(net->loop) + cfg->handshake_timeout_ms;
    }
    if (c->state == CONN_HTTP && c->in_len == 0 && !(c->flags & CF_HTTP_PENDING) && !c->body)
        in_discard(c);
}

/* Streamed body bytes read in one wake-up before the others get a turn. */
#define HTTP_BODY_BITE (256u * 1024)

static void read_again_due(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    (void)t;
    /* Taken off first: a connection read now may be put back. Closed ones
     * stay allocated until the end of this loop iteration. */
    conn_t **list = net->read_again;
    uint32_t n = net->n_read_again;
    net->read_again = NULL;
    net->n_read_again = net->cap_read_again = 0;
    for (uint32_t i = 0; i < n; i++) {
        conn_t *c = list[i];
        c->flags &= (uint16_t)~CF_READ_AGAIN;
        if (c->state == CONN_HTTP) http_on_readable(c);
    }
    free(list);
}

/* 0 when c will be read again at the next iteration, -1 when it could not
 * be queued (then the caller just reads on). */
static int read_again_later(conn_t *c)
{
    if (c->flags & CF_READ_AGAIN) return 0;
    if (net->n_read_again == net->cap_read_again) {
        uint32_t cap = net->cap_read_again ? 2 * net->cap_read_again : 8;
        conn_t **l = realloc(net->read_again, cap * sizeof *l);
        if (!l) return -1;
        net->read_again = l;
        net->cap_read_again = cap;
    }
    net->read_again[net->n_read_again++] = c;
    c->flags |= CF_READ_AGAIN;
    if (!loop_timer_armed(&net->read_again_timer))
        loop_timer_start(net->loop, &net->read_again_timer, 0, read_again_due, NULL);
    return 0;
}

void http_read_again_forget(conn_t *c)
{
    c->flags &= (uint16_t)~CF_READ_AGAIN;
    for (uint32_t i = 0; i < net->n_read_again; i++)
        if (net->read_again[i] == c) {
            net->read_again[i] = net->read_again[--net->n_read_again];
            return;
        }
}

void http_on_readable(conn_t *c)
{
    size_t bite = 0;
    const ragws_config_t *cfg = net->cfg;
    size_t max = cfg->max_header_bytes + cfg->max_body_bytes;
    for (;;) {
        if (c->state != CONN_HTTP) return;
        if (c->in_len >= max) {
            /* Limits are enforced by parse_input; reaching here means a
             * request plus pipelined extra beyond the buffer: stop reading
             * until it is processed. */
            parse_input(c);
            if (c->state != CONN_HTTP || c->in_len >= max) return;
        }
        /* a streamed body is read in larger bites */
        if (in_reserve(c, c->body ? 65536 : 4096, max) < 0) {
            conn_close(c, "out of memory");
            return;
        }
        ssize_t n = read(c->watch.fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n > 0) {
            stats_add(&net->stats->bytes_in, (uint64_t)n);
            c->in_len += (uint32_t)n;
            int streaming = c->body != NULL;
            parse_input(c);
            bite += (size_t)n;
            if (streaming && bite >= HTTP_BODY_BITE && c->state == CONN_HTTP &&
                read_again_later(c) == 0)
                return; /* edge-triggered: the bytes left are read from the timer */
            continue;
        }
        if (n == 0) {
            /* Peer closed its side: answer what is pending, then close. */
            c->flags |= CF_CLOSE_AFTER_FLUSH;
            if (!c->out.len) conn_close(c, "peer closed");
            return;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            conn_close(c, strerror(errno));
        else if (c->in_len == 0)
            in_discard(c);
        return;
    }
}
