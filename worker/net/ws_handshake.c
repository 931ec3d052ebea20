/* The RFC 6455 opening handshake (section 4.2) of worker/net/ws.h: the
 * request's checks, the auth hook of the route, admission (drain,
 * limits.max_connections), the 101 and the switch of the connection to
 * WebSocket. See ws_upgrade and ws_upgrade_route in ws.h. */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/gateway.h"
#include "worker/net/http.h"
#include "worker/net/net.h"
#include "worker/net/pubsub.h"
#include "worker/net/ws.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- opening handshake (RFC 6455 section 4.2) ---- */

static int valid_key(const http_header_t *k)
{
    /* base64 of 16 bytes: 22 significant characters and "==" */
    if (!k || k->value_len != 24 || k->value[22] != '=' || k->value[23] != '=') return 0;
    unsigned char out[24];
    int n = EVP_DecodeBlock(out, (const unsigned char *)k->value, 24);
    return n == 18; /* 16 bytes plus the two padding bytes EVP counts */
}

void ws_reject(conn_t *c, int status, const char *code, const char *msg, const char *extra)
{
    stats_add(&net->stats->handshake_failures, 1);
    c->flags &= (uint16_t)~CF_KEEPALIVE;
    char *body = gateway_error_body(code, msg);
    if (!body) {
        conn_close(c, "out of memory");
        return;
    }
    http_respond(c, status, "application/json", body, strlen(body), extra);
    free(body);
}

static uint64_t total_ws_connections(void)
{
    uint64_t n = 0;
    SHM_FOR_EACH_SLOT(net->shm, i, SHM_LIVE)
    {
        n += stats_get(&net->shm->slots[i].stats.ws_connections);
    }
    return n;
}

/* RFC 6455 4.2.1: the request is a valid opening handshake, else it is
 * answered (400, 426) and NULL returned. */
static const http_header_t *handshake_key(conn_t *c, const http_request_t *req)
{
    const http_header_t *conn_h = http_find_header(req, "Connection");
    const http_header_t *key = http_find_header(req, "Sec-WebSocket-Key");
    const http_header_t *ver = http_find_header(req, "Sec-WebSocket-Version");
    const char *bad = NULL;
    if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0)
        bad = "WebSocket handshake must use GET";
    else if (req->minor_version != 1)
        bad = "WebSocket needs HTTP/1.1";
    else if (!conn_h || !http_value_has_token(conn_h->value, conn_h->value_len, "upgrade"))
        bad = "Connection header must include Upgrade";
    if (bad) {
        ws_reject(c, 400, "BAD_HANDSHAKE", bad, NULL);
        return NULL;
    }
    if (!ver || ver->value_len != 2 || memcmp(ver->value, "13", 2) != 0) {
        ws_reject(c, 426, "UNSUPPORTED_VERSION", "only WebSocket version 13 is supported",
                  "Sec-WebSocket-Version: 13\r\n");
        return NULL;
    }
    if (!valid_key(key)) {
        ws_reject(c, 400, "BAD_HANDSHAKE", "missing or malformed Sec-WebSocket-Key", NULL);
        return NULL;
    }
    return key;
}

/* Room for one more WebSocket (not draining, under limits.max_connections). */
static int admit(conn_t *c)
{
    if (net->draining) {
        ws_reject(c, 503, "SHUTTING_DOWN", "server is restarting", "Retry-After: 1\r\n");
        return 0;
    }
    if (total_ws_connections() >= net->cfg->max_connections) {
        stats_add(&net->stats->rejected_full, 1);
        ws_reject(c, 503, "TOO_MANY_CONNECTIONS", "server is at limits.max_connections",
                  "Retry-After: 1\r\n");
        return 0;
    }
    return 1;
}

/* The 101 answer; protocol: the Sec-WebSocket-Protocol to select or NULL. */
static int send_101(conn_t *c, const http_header_t *key, const char *protocol)
{
    unsigned char sha[SHA_DIGEST_LENGTH];
    char concat[24 + sizeof WS_GUID];
    memcpy(concat, key->value, 24);
    memcpy(concat + 24, WS_GUID, sizeof WS_GUID - 1);
    SHA1((unsigned char *)concat, 24 + sizeof WS_GUID - 1, sha);
    char accept[32];
    EVP_EncodeBlock((unsigned char *)accept, sha, SHA_DIGEST_LENGTH);

    const char *fmt = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                      "%s%s%sX-Ragws-Worker: %d\r\n\r\n";
    const char *p = protocol ? protocol : "";
    const char *pre = p[0] ? "Sec-WebSocket-Protocol: " : "", *post = p[0] ? "\r\n" : "";
    char resp[512];
    int n = snprintf(resp, sizeof resp, fmt, accept, pre, p, post, net->slot_idx);
    if (n < 0) {
        conn_close(c, "handshake response too long");
        return -1;
    }
    if ((size_t)n < sizeof resp) return conn_send_copy(c, resp, (size_t)n);
    /* A long selected protocol (a token offered as a subprotocol). */
    outbuf_t *b = outbuf_new((size_t)n + 1);
    if (!b) {
        conn_close(c, "out of memory");
        return -1;
    }
    snprintf(b->data, (size_t)n + 1, fmt, accept, pre, p, post, net->slot_idx);
    b->len = (uint32_t)n;
    return conn_send(c, b);
}

/* From HTTP to WebSocket: keep the early frames that followed the head,
 * drop the HTTP input buffer, set the WebSocket state. Returns the early
 * bytes' length (copied into early), -1 when the connection was closed. */
static long switch_to_ws(conn_t *c, const endpoint_t *ep, const char *rest, size_t rest_len,
                         uint8_t *early, size_t early_cap)
{
    if (rest_len >= early_cap) {
        conn_close(c, "too many bytes before the handshake completed");
        return -1;
    }
    memcpy(early, rest, rest_len);
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;

    c->state = CONN_WS;
    c->ep = ep;
    c->flags &= (uint16_t) ~(CF_KEEPALIVE | CF_CLOSE_AFTER_FLUSH);
    uint64_t now = loop_now_ms(net->loop);
    c->tokens = net->cfg->rate_burst;
    c->tokens_ms = now;
    c->next_ping_ms = now + net->cfg->keepalive_interval_ms;
    stats_sub(&net->stats->http_connections, 1);
    stats_add(&net->stats->ws_connections, 1);
    stats_add(&net->stats->handshakes, 1);
    return (long)rest_len;
}

static void auth_release(net_ws_auth_t *a)
{
    free(a->sub);
    free(a->protocol);
    free(a->refusal);
    memset(a, 0, sizeof *a);
}

/* A valid handshake that passed the auth hook (a may be NULL): admit it,
 * answer 101, switch, then refuse (a bad token: the message, then 1008) or
 * open the endpoint. Takes over what a holds. */
static void accept_ws(conn_t *c, const http_header_t *key, const endpoint_t *ep, net_ws_auth_t *a,
                      const char *rest, size_t rest_len, void *open_arg)
{
    net_ws_auth_t none = {0};
    if (!a) a = &none;
    if (!admit(c) || send_101(c, key, a->protocol) < 0) {
        auth_release(a);
        return;
    }
    /* The owner of the conversations this connection creates. */
    free(c->sub);
    c->sub = a->sub;
    a->sub = NULL;
    uint8_t early[4096];
    long early_len = switch_to_ws(c, ep, rest, rest_len, early, sizeof early);
    if (early_len >= 0 && a->refusal) {
        ws_send_text(c, a->refusal, strlen(a->refusal));
        stats_add(&net->stats->errors, 1);
        ws_close(c, 1008, a->reason ? a->reason : "invalid token");
        early_len = -1;
    }
    auth_release(a);
    if (early_len < 0) return;
    if (ep->channel && pubsub_subscribe(c, ep->channel, strlen(ep->channel)) < 0) {
        conn_close(c, "out of memory");
        return;
    }
    if (ep->on_open) ep->on_open(c, open_arg);
    if (c->state == CONN_WS && early_len) ws_feed(c, early, (size_t)early_len);
}

void ws_upgrade(conn_t *c, const http_request_t *req, const endpoint_t *ep, const char *rest,
                size_t rest_len, void *open_arg)
{
    const http_header_t *key = handshake_key(c, req);
    if (key) accept_ws(c, key, ep, NULL, rest, rest_len, open_arg);
}

void ws_upgrade_route(conn_t *c, const http_request_t *req, const route_t *r, const char *rest,
                      size_t rest_len)
{
    const http_header_t *key = handshake_key(c, req);
    if (!key) return;
    net_ws_auth_t a = {0};
    if (net->hooks.ws_gate && !net->hooks.ws_gate(c, req, r, &a)) {
        auth_release(&a);
        return;
    }
    /* on_open may read the path parameters and the query (/ws/task/{id},
     * ?upload_id=): copied, since switching to WebSocket frees c->in. */
    char *target = malloc(req->target_len + 1);
    if (!target) {
        auth_release(&a);
        conn_close(c, "out of memory");
        return;
    }
    memcpy(target, req->target, req->target_len);
    target[req->target_len] = 0;
    ws_route_open_t *o = calloc(1, sizeof *o);
    if (!o) {
        free(target);
        auth_release(&a);
        conn_close(c, "out of memory");
        return;
    }
    o->req.method = "GET";
    o->req.method_len = 3;
    o->req.minor_version = 1;
    o->req.target = target;
    o->req.target_len = req->target_len;
    o->req.path = target + (req->path - req->target);
    o->req.path_len = req->path_len;
    o->req.query = req->query ? target + (req->query - req->target) : NULL;
    o->req.query_len = req->query_len;
    route_pattern_match(r->pattern, o->req.path, o->req.path_len, 0, &o->params);
    accept_ws(c, key, r->ws, &a, rest, rest_len, o);
    free(o);
    free(target);
}
