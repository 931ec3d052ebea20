/* JWT authentication (see auth.h). libjwt checks the signature; everything
 * it would decide from the token itself (which algorithm, whether to check
 * at all) is decided here first. The key material: auth_keys.c. */
#include "worker/svc/auth.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "worker/svc/auth_keys.h"

typedef struct auth_state {
    int mode;
    auth_keys_t keys;
    double leeway_s; /* auth.leeway */
    char endpoints[sizeof(((ragws_config_t *)0)->auth_endpoints)];
} auth_state_t;

static auth_state_t g_auth;

static void set_why(char *why, size_t whylen, const char *text)
{
    if (why && whylen) snprintf(why, whylen, "%s", text);
}

static size_t copy_out(char *dst, size_t dstlen, const char *b, const char *e);

int auth_init(const ragws_config_t *cfg, char *err, size_t errlen)
{
    auth_state_t st;
    memset(&st, 0, sizeof st);
    st.mode = cfg->auth_mode;
    snprintf(st.endpoints, sizeof st.endpoints, "%s", cfg->auth_endpoints);
    if (st.mode == AUTH_JWT && auth_keys_load(&st.keys, cfg, err, errlen) != 0) return -1;
    st.leeway_s = cfg->auth_leeway_ms / 1000.0;
    /* Swap only on success: a failed reload keeps the working keys. */
    auth_keys_free(&g_auth.keys);
    g_auth = st;
    return 0;
}

void auth_shutdown(void)
{
    auth_keys_free(&g_auth.keys);
    memset(&g_auth, 0, sizeof g_auth);
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* Trim [*b, *e) of spaces and tabs. */
static void trim(const char **b, const char **e)
{
    while (*b < *e && is_ows(**b)) (*b)++;
    while (*e > *b && is_ows((*e)[-1])) (*e)--;
}

int auth_path_protected(const char *path, size_t len)
{
    if (g_auth.mode != AUTH_JWT) return 0;
    const char *p = g_auth.endpoints, *end = p + strlen(p);
    int listed_any = 0;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *b = p, *e = comma ? comma : end;
        trim(&b, &e);
        if (b < e) {
            listed_any = 1;
            size_t n = (size_t)(e - b);
            if (e[-1] == '*' ? len >= n - 1 && memcmp(b, path, n - 1) == 0
                             : n == len && memcmp(b, path, len) == 0)
                return 1;
        }
        p = comma ? comma + 1 : end;
    }
    /* Empty list: every path (the route table keeps public and admin
     * routes out; unknown paths are in: a 401 before the 404 tells nothing
     * about the routes). */
    return !listed_any;
}

size_t auth_bearer_token(const http_request_t *req, char *token, size_t toklen)
{
    if (token && toklen) token[0] = '\0';
    const http_header_t *a = req ? http_find_header(req, "Authorization") : NULL;
    if (!a || !token || toklen < 2 || a->value_len <= 6 ||
        strncasecmp(a->value, "Bearer", 6) != 0 || !is_ows(a->value[6]))
        return 0;
    const char *b = a->value + 6, *e = a->value + a->value_len;
    trim(&b, &e);
    return b < e ? copy_out(token, toklen, b, e) : 0;
}

/* ---- verification ---- */

static int b64url_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Unpadded base64url (RFC 7515 section 2) into a malloc'd, NUL-terminated
 * buffer; NULL on a bad character or impossible length. */
static char *b64url_decode(const char *s, size_t n, size_t *outlen)
{
    if (n % 4 == 1) return NULL;
    char *out = malloc(n * 3 / 4 + 2);
    if (!out) return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_val((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* A base64url part that decodes to a JSON object (duplicate keys refused:
 * jansson would keep the last one, and two readers could disagree). */
static json_t *decode_json_part(const char *s, size_t n)
{
    size_t len = 0;
    char *txt = b64url_decode(s, n, &len);
    if (!txt) return NULL;
    json_t *j = json_loadb(txt, len, JSON_REJECT_DUPLICATES, NULL);
    free(txt);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* The algorithm this header alg names (exact, case-sensitive names as RFC
 * 7518 spells them) when auth.algorithms (or the key's default) accepts
 * it, else JWT_ALG_INVAL. choose_algorithms keeps the list within what the
 * key verifies. */
static jwt_alg_t allowed_alg(const char *alg)
{
    static const jwt_alg_t libjwt[] = {JWT_ALG_HS256, JWT_ALG_HS384, JWT_ALG_HS512, JWT_ALG_RS256,
                                       JWT_ALG_RS384, JWT_ALG_RS512, JWT_ALG_ES256, JWT_ALG_ES384};
    for (unsigned i = 0; i < sizeof libjwt / sizeof libjwt[0]; i++) {
        uint32_t bit = 1u << i;
        if ((g_auth.keys.algs & bit) && strcmp(alg, config_alg_name(bit)) == 0) return libjwt[i];
    }
    return JWT_ALG_INVAL;
}

static int numeric_claim_ok(json_t *payload, const char *name)
{
    json_t *v = json_object_get(payload, name);
    return !v || json_is_number(v);
}

/* Exactly header.payload.signature, all base64url: anything else (JWE's
 * five parts, padding, whitespace) is not ours to guess at. Decodes the
 * header and payload objects; 0, or -1 when malformed. */
static int split_token(const char *buf, size_t len, json_t **header, json_t **payload, size_t *slen)
{
    const char *d1 = memchr(buf, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - buf)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - buf))) return -1;
    size_t hlen = (size_t)(d1 - buf), plen = (size_t)(d2 - d1 - 1);
    *slen = len - (size_t)(d2 + 1 - buf);
    if (hlen == 0 || plen == 0) return -1;
    for (size_t i = 0; i < *slen; i++)
        if (b64url_val((unsigned char)d2[1 + i]) < 0) return -1;
    *header = decode_json_part(buf, hlen);
    *payload = *header ? decode_json_part(d1 + 1, plen) : NULL;
    return *payload ? 0 : -1;
}

/* Policy before any cryptography: the token does not get to choose how it
 * is checked ("none", HS* against a public key, ...). NULL when the token
 * may go to libjwt (*want: its algorithm), else the reason. */
static const char *check_policy(json_t *header, json_t *payload, size_t slen, jwt_alg_t *want)
{
    const char *alg = json_string_value(json_object_get(header, "alg"));
    json_t *typ = json_object_get(header, "typ");
    if (!alg || (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0)))
        return "malformed token"; /* libjwt refuses other typ values too */
    /* Critical extensions (RFC 7515 4.1.11) are not understood here. */
    if (json_object_get(header, "crit")) return "malformed token";
    *want = allowed_alg(alg);
    if (*want == JWT_ALG_INVAL) return "algorithm not allowed";
    if (slen == 0) return "bad signature";
    json_t *jsub = json_object_get(payload, "sub");
    if (!numeric_claim_ok(payload, "exp") || !numeric_claim_ok(payload, "nbf") ||
        (jsub && !json_is_string(jsub)))
        return "malformed token";
    return NULL;
}

/* Times only after the signature, so forgeries learn nothing. The claims
 * come from the payload just verified (same bytes); NumericDate may be
 * fractional, which libjwt's integer getter would misread. */
static const char *check_times(json_t *payload)
{
    double now = (double)time(NULL);
    json_t *exp = json_object_get(payload, "exp");
    json_t *nbf = json_object_get(payload, "nbf");
    if (exp && now >= json_number_value(exp) + g_auth.leeway_s) return "token expired";
    if (nbf && now + g_auth.leeway_s < json_number_value(nbf)) return "token not yet valid";
    return NULL;
}

/* Signature (libjwt), algorithm agreement, times and sub of a token that
 * passed the policy. NULL on success (sub copied), else the reason. */
static const char *check_signed(const char *buf, json_t *payload, jwt_alg_t want, char *sub,
                                size_t sublen)
{
    jwt_t *jwt = NULL;
    const char *reason = NULL;
    if (jwt_decode(&jwt, buf, g_auth.keys.key, (int)g_auth.keys.key_len) != 0 || !jwt)
        reason = "bad signature";
    else if (jwt_get_alg(jwt) != want) /* both parsers must agree */
        reason = "algorithm not allowed";
    else
        reason = check_times(payload);
    const char *s = reason ? NULL : jwt_get_grant(jwt, "sub");
    if (s && sub && sublen) {
        if (strlen(s) >= sublen)
            reason = "malformed token"; /* a cut identity could name someone else */
        else
            memcpy(sub, s, strlen(s) + 1);
    }
    if (jwt) jwt_free(jwt);
    return reason;
}

int auth_verify(const char *token, size_t len, char *sub, size_t sublen, char *why, size_t whylen)
{
    char buf[AUTH_TOKEN_MAX + 1]; /* libjwt wants a C string */
    json_t *header = NULL, *payload = NULL;
    const char *reason = "malformed token";
    jwt_alg_t want = JWT_ALG_INVAL;

    if (sub && sublen) sub[0] = '\0';
    if (!token || len == 0) {
        set_why(why, whylen, "missing token");
        return -1;
    }
    if (len <= AUTH_TOKEN_MAX && !memchr(token, '\0', len)) {
        memcpy(buf, token, len);
        buf[len] = '\0';
        size_t slen = 0;
        if (split_token(buf, len, &header, &payload, &slen) == 0 &&
            !(reason = check_policy(header, payload, slen, &want)))
            reason = check_signed(buf, payload, want, sub, sublen);
        OPENSSL_cleanse(buf, len);
    }
    json_decref(header);
    json_decref(payload);
    if (reason) {
        if (sub && sublen) sub[0] = '\0';
        set_why(why, whylen, reason);
        return -1;
    }
    if (why && whylen) why[0] = '\0';
    return 0;
}

/* ---- where the token is ---- */

/* Copy [b, e) cut to dstlen - 1 bytes; returns the bytes copied. */
static size_t copy_out(char *dst, size_t dstlen, const char *b, const char *e)
{
    if (!dst || dstlen == 0) return 0;
    size_t n = (size_t)(e - b);
    if (n > dstlen - 1) n = dstlen - 1;
    memcpy(dst, b, n);
    dst[n] = '\0';
    return n;
}

/* Looks like a compact JWS: three base64url parts, the first two JSON
 * objects (base64url of '{' then a quote or space starts "ey"). The "ey"
 * test keeps dotted subprotocol names such as "wamp.2.json" out. The
 * signature may be empty so that an unsigned token is still found and then
 * refused by auth_verify, not reported missing. */
static int looks_like_jwt(const char *b, const char *e)
{
    int dots = 0;
    const char *part = b;
    for (const char *p = b; p <= e; p++) {
        if (p == e || *p == '.') {
            size_t n = (size_t)(p - part);
            if (dots < 2 && (n < 2 || part[0] != 'e' || part[1] != 'y')) return 0;
            if (p < e && ++dots > 2) return 0;
            part = p + 1;
        } else if (b64url_val((unsigned char)*p) < 0) {
            return 0;
        }
    }
    return dots == 2;
}

static int is_marker(const char *b, const char *e)
{
    size_t n = (size_t)(e - b);
    return (n == 6 && strncasecmp(b, "bearer", 6) == 0) ||
           (n == 12 && strncasecmp(b, "access_token", 12) == 0);
}

/* Next comma-separated item of [*p, end), trimmed; 0 when none is left. */
static int next_item(const char **p, const char *end, const char **b, const char **e)
{
    while (*p < end) {
        const char *comma = memchr(*p, ',', (size_t)(end - *p));
        *b = *p;
        *e = comma ? comma : end;
        *p = comma ? comma + 1 : end;
        trim(b, e);
        if (*b < *e) return 1;
    }
    return 0;
}

static size_t from_protocol(const http_request_t *req, char *token, size_t toklen, char *echo,
                            size_t echolen)
{
    /* Offered values may be spread over several header lines; the list is
     * their concatenation in order (RFC 9110 5.3), and the marker pair may
     * even straddle two lines. */
    const char *pending_marker = NULL, *pending_end = NULL;
    for (size_t h = 0; h < req->n_headers; h++) {
        const http_header_t *hd = &req->headers[h];
        if (hd->name_len != 22 || strncasecmp(hd->name, "Sec-WebSocket-Protocol", 22) != 0)
            continue;
        const char *p = hd->value, *end = hd->value + hd->value_len, *b, *e;
        while (next_item(&p, end, &b, &e)) {
            const char *eb = NULL, *ee = NULL;
            if (pending_marker) {
                eb = pending_marker; /* the client selects the marker */
                ee = pending_end;
            } else if (is_marker(b, e)) {
                pending_marker = b;
                pending_end = e;
                continue;
            } else if (looks_like_jwt(b, e)) {
                eb = b; /* only the token itself was offered */
                ee = e;
            } else {
                continue;
            }
            size_t n = copy_out(token, toklen, b, e);
            if (echo && echolen > (size_t)(ee - eb)) copy_out(echo, echolen, eb, ee);
            return n;
        }
    }
    return 0;
}

size_t auth_token_from_request(const http_request_t *req, char *token, size_t toklen,
                               char *protocol_echo, size_t echolen)
{
    if (token && toklen) token[0] = '\0';
    if (protocol_echo && echolen) protocol_echo[0] = '\0';
    if (!req || !token || toklen < 2) return 0;

    /* 1. Authorization: Bearer <t> (scheme is case-insensitive, RFC 9110
     * 11.1); another scheme is not ours and does not hide the others. */
    const http_header_t *a = http_find_header(req, "Authorization");
    if (a && a->value_len > 6 && strncasecmp(a->value, "Bearer", 6) == 0 && is_ows(a->value[6])) {
        const char *b = a->value + 6, *e = a->value + a->value_len;
        trim(&b, &e);
        if (b < e) return copy_out(token, toklen, b, e);
    }

    /* 2. ?token=<t>. Decoding never grows the text, so a buffer of the
     * query's size cannot fail for length and an overlong token is cut by
     * copy_out like the others. */
    if (req->query && req->query_len) {
        char *q = malloc(req->query_len + 1);
        if (q) {
            int n = http_query_param(req, "token", q, req->query_len + 1);
            size_t got = n > 0 ? copy_out(token, toklen, q, q + n) : 0;
            free(q);
            if (got) return got;
        }
    }

    /* 3. Sec-WebSocket-Protocol (browsers cannot set Authorization). */
    return from_protocol(req, token, toklen, protocol_echo, echolen);
}
