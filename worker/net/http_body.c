/* Request bodies: framing, streaming, dropping; see http_body.h. */
#include "worker/net/http_body.h"

#include <stdlib.h>
#include <string.h>

#include "worker/net/net.h"

/* What is read and dropped after an early answer, at most, so the client
 * reads the answer instead of a reset; past it the connection closes. */
#define DISCARD_MAX (UINT64_C(64) << 20)

void body_drop(conn_t *c, const char *why)
{
    http_body_t *b = c->body;
    if (!b) return;
    c->body = NULL;
    if (b->ops && b->ops->abort) b->ops->abort(c, b->ud, why);
    free(b);
}

void http_body_stream(conn_t *c, const http_body_ops_t *ops, void *ud)
{
    if (c->body && !c->body->discard) {
        c->body->ops = ops;
        c->body->ud = ud;
    } else if (ops->abort) {
        ops->abort(c, ud, "no body to stream");
    }
}

http_body_t *body_new(conn_t *c, const http_request_t *req)
{
    http_body_t *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->chunked = (uint8_t)req->chunked;
    http_chunked_init(&b->dec);
    b->head_len = (uint32_t)req->head_len;
    b->left = req->content_length;
    c->body = b;
    /* An answer before the body ended closes the connection after it. */
    c->flags &= (uint16_t)~CF_KEEPALIVE;
    return b;
}

/* Answered early: read the rest and drop it while the answer goes out. */
void body_discard(conn_t *c)
{
    c->body->ops = NULL;
    c->body->discard = 1;
    c->flags &= (uint16_t)~CF_CLOSE_AFTER_FLUSH;
}

/* Stop reading: close once the answers are out. Returns -1. */
int body_close(conn_t *c, const char *why)
{
    body_drop(c, why);
    c->flags |= CF_CLOSE_AFTER_FLUSH;
    conn_mark_dirty(c);
    return -1;
}

/* The next span of the body in p[0..n): the chunked decoder's answer, or
 * Content-Length framing in the same terms. */
static int body_next(http_body_t *b, const char *p, size_t n, size_t *used, const char **data,
                     size_t *dlen)
{
    if (b->chunked) return http_chunked_feed(&b->dec, p, n, used, data, dlen);
    if (!b->left) {
        *used = 0;
        return HTTP_CHUNKED_DONE;
    }
    *dlen = *used = n < b->left ? n : (size_t)b->left;
    *data = p;
    b->left -= *used;
    return HTTP_CHUNKED_DATA;
}

/* One span: to the handler, kept (buffered, within max_body_bytes) or
 * dropped. -1 when the connection stops here. */
static int body_span(conn_t *c, const char *data, size_t n)
{
    http_body_t *b = c->body;
    b->received += n;
    if (b->discard) return b->received > DISCARD_MAX ? body_close(c, "too much to discard") : 0;
    if (b->ops) {
        if (b->ops->data(c, b->ud, data, n) < 0) body_discard(c);
        return c->state == CONN_HTTP ? 0 : -1;
    }
    if (b->kept + n > net->cfg->max_body_bytes) {
        http_respond_error(c, 413, "PAYLOAD_TOO_LARGE", "request body over limits.max_body_bytes");
        body_discard(c);
        return 0;
    }
    memmove(c->in + b->head_len + b->kept, data, n);
    b->kept += (uint32_t)n;
    return 0;
}

/* Feed the raw bytes after the head (and what was kept). 0: more are due;
 * 1: the body ended, *total = head + kept, the next request's bytes follow
 * at c->in + *total; -1: the connection stops here. */
int body_step(conn_t *c, size_t *total)
{
    http_body_t *b = c->body;
    size_t off = b->head_len + b->kept;
    int rc = HTTP_CHUNKED_NEED;
    while (off < c->in_len || (!b->chunked && !b->left)) {
        const char *data = NULL;
        size_t dlen = 0, used = 0;
        rc = body_next(b, c->in + off, c->in_len - off, &used, &data, &dlen);
        off += used;
        if (rc == HTTP_CHUNKED_ERROR) {
            int answer = !b->answered;
            body_drop(c, "malformed chunked body");
            if (answer) http_respond_error(c, 400, "BAD_REQUEST", "malformed chunked body");
            return body_close(c, "malformed chunked body");
        }
        if (rc == HTTP_CHUNKED_DONE) break;
        if (dlen && body_span(c, data, dlen) < 0) return -1;
        b = c->body;
    }
    size_t at = b->head_len + b->kept, rest = rc == HTTP_CHUNKED_DONE ? c->in_len - off : 0;
    if (rest) memmove(c->in + at, c->in + off, rest);
    c->in_len = (uint32_t)(at + rest);
    c->deadline_ms = loop_now_ms(net->loop) + net->cfg->handshake_timeout_ms;
    if (rc != HTTP_CHUNKED_DONE) return 0;
    if (b->discard) return body_close(c, "early answer");
    *total = at;
    return 1;
}
