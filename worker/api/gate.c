#include "worker/api/gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocol/gateway.h"
#include "worker/api/routes.h"
#include "worker/net/http.h"
#include "worker/net/ws.h"
#include "worker/svc/auth.h"

/* application/json, parameters (charset) allowed. */
static int is_json(const http_request_t *req)
{
    const http_header_t *t = http_find_header(req, "Content-Type");
    if (!t || t->value_len < 16 || strncasecmp(t->value, "application/json", 16) != 0) return 0;
    char next = t->value_len > 16 ? t->value[16] : ';';
    return next == ';' || next == ' ' || next == '\t';
}

/* Cross-site requests cannot reach admin calls: a browser page may send
 * text/plain without a preflight, never application/json, and always
 * says its Origin. A GET (admin reads such as /api/webhooks/deliveries)
 * has no body and changes nothing: it needs no Content-Type (a page of an
 * unlisted Origin is refused above; without an Origin it cannot read the
 * answer). */
static int admin_gate(conn_t *c, const http_request_t *req)
{
    if (!http_origin_listed(req)) {
        http_respond_error(c, 403, "ORIGIN_NOT_ALLOWED",
                           "admin calls accept only an Origin listed in cors.allowed_origins");
        return 0;
    }
    int read_only = http_method_is(req, "GET") || http_method_is(req, "HEAD");
    if (!read_only && !is_json(req)) {
        http_respond_error(c, 415, "UNSUPPORTED_MEDIA_TYPE",
                           "admin calls take Content-Type: application/json");
        return 0;
    }
    if (!http_admin_allowed(c, req)) {
        http_respond_error(c, 401, "UNAUTHORIZED",
                           "admin token required (Authorization: Bearer <token>)");
        return 0;
    }
    return 1;
}

/* 401 with the challenge of RFC 6750 section 3. */
static void respond_unauthorized(conn_t *c, const char *why, int had_token)
{
    char msg[192];
    snprintf(msg, sizeof msg, "Authentication failed: %s", why);
    char hdr[256];
    if (had_token)
        snprintf(hdr, sizeof hdr,
                 "WWW-Authenticate: Bearer realm=\"ragws\", error=\"invalid_token\", "
                 "error_description=\"%s\"\r\n",
                 why);
    else
        snprintf(hdr, sizeof hdr, "WWW-Authenticate: Bearer realm=\"ragws\"\r\n");
    http_respond_error_hdr(c, 401, "UNAUTHORIZED", msg, hdr);
}

/* JWT gate of a user path (SPEC S7): 1 and the caller's sub in
 * params->sub ("" for a token without one), or 401 and 0. */
static int user_gate(conn_t *c, const http_request_t *req, route_params_t *params)
{
    params->sub[0] = 0;
    if (!routes_path_protected(req->path, req->path_len)) return 1;
    char token[AUTH_TOKEN_BUF], why[128] = "";
    size_t n = auth_bearer_token(req, token, sizeof token);
    if (!n) {
        respond_unauthorized(c, "missing token (Authorization: Bearer <jwt>)", 0);
        return 0;
    }
    if (auth_verify(token, n, params->sub, sizeof params->sub, why, sizeof why) != 0) {
        respond_unauthorized(c, why, 1);
        return 0;
    }
    return 1;
}

int gate_http(conn_t *c, const http_request_t *req, int rc, const route_match_t *m,
              route_params_t *params)
{
    const route_t *r = m->route;
    int auth = r ? r->auth : ROUTE_AUTH_TOKEN; /* unknown paths: 401 before 404 */
    if (auth == ROUTE_AUTH_TOKEN) {
        if (!user_gate(c, req, params)) return 0;
        /* Under jwt the sub ("" anonymous) decides the conversations read. */
        params->owner = net->cfg->auth_mode == AUTH_JWT ? params->sub : NULL;
        return 1;
    }
    if (auth == ROUTE_AUTH_ADMIN && rc == ROUTE_FOUND) return admin_gate(c, req);
    return 1;
}

/* The JWT of an upgrade on a token endpoint: out->sub on success, else
 * out->refusal (the auth_error message) for after the 101. */
static int ws_token(conn_t *c, const http_request_t *req, net_ws_auth_t *out)
{
    char token[AUTH_TOKEN_BUF], echo[AUTH_TOKEN_BUF], why[128] = "", sub[AUTH_SUB_MAX] = "";
    size_t tlen = auth_token_from_request(req, token, sizeof token, echo, sizeof echo);
    if (!tlen)
        snprintf(why, sizeof why, "missing token");
    else
        auth_verify(token, tlen, sub, sizeof sub, why, sizeof why);
    if ((echo[0] && !(out->protocol = strdup(echo))) ||
        (!why[0] && sub[0] && !(out->sub = strdup(sub)))) {
        conn_close(c, "out of memory");
        return 0;
    }
    if (why[0]) {
        out->refusal = gateway_auth_error(why);
        out->reason = "invalid token";
        if (!out->refusal) {
            conn_close(c, "out of memory");
            return 0;
        }
    }
    return 1;
}

int gate_ws(conn_t *c, const http_request_t *req, const route_t *r, net_ws_auth_t *out)
{
    int admin = r->auth == ROUTE_AUTH_ADMIN;
    if (!http_origin_allowed(req)) {
        ws_reject(c, 403, "ORIGIN_NOT_ALLOWED", "Origin not in cors.allowed_origins", NULL);
        return 0;
    }
    if (admin && !http_origin_listed(req)) {
        ws_reject(c, 403, "ORIGIN_NOT_ALLOWED",
                  "admin endpoints accept only an Origin listed in cors.allowed_origins", NULL);
        return 0;
    }
    if (admin && !http_admin_allowed(c, req)) {
        ws_reject(c, 401, "UNAUTHORIZED", "admin token required", NULL);
        return 0;
    }
    if (r->auth == ROUTE_AUTH_TOKEN && !r->ws->own_auth &&
        routes_path_protected(req->path, req->path_len))
        return ws_token(c, req, out);
    return 1;
}
