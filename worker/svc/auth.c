/* JWT authentication (see auth.h). libjwt checks the signature; everything
 * it would decide from the token itself (which algorithm, whether to check
 * at all) is decided here first. */
#include "worker/svc/auth.h"

#include "worker/net/route.h"
#include "worker/api/rest.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Key files are small; anything bigger is a wrong path. */
#define AUTH_KEY_FILE_MAX (64 * 1024)

enum key_kind { KEY_NONE = 0, KEY_SECRET, KEY_RSA, KEY_EC256, KEY_EC384 };

typedef struct auth_state {
    int mode;
    enum key_kind kind;
    unsigned char *key; /* secret bytes or PEM text, as libjwt wants it */
    size_t key_len;
    uint32_t algs;   /* CONFIG_ALG_* bits accepted */
    double leeway_s; /* auth.leeway */
    char endpoints[sizeof(((ragws_config_t *)0)->auth_endpoints)];
} auth_state_t;

static auth_state_t g_auth;

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void set_why(char *why, size_t whylen, const char *text)
{
    if (why && whylen) snprintf(why, whylen, "%s", text);
}

static size_t copy_out(char *dst, size_t dstlen, const char *b, const char *e);
static int is_ows(char c);

static void state_free(auth_state_t *st)
{
    if (st->key) {
        OPENSSL_cleanse(st->key, st->key_len); /* secrets leave no copy behind */
        free(st->key);
    }
    memset(st, 0, sizeof *st);
}

/* Whole file into a malloc'd buffer (NUL added, not counted). */
static int read_key_file(const char *key, const char *path, unsigned char **out, size_t *outlen,
                         char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errlen, "auth.%s: cannot read %s: %s", key, path, strerror(errno));
    unsigned char *buf = malloc(AUTH_KEY_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        return fail(err, errlen, "auth.%s: out of memory", key);
    }
    size_t n = fread(buf, 1, AUTH_KEY_FILE_MAX + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return fail(err, errlen, "auth.%s: cannot read %s", key, path);
    }
    if (n > AUTH_KEY_FILE_MAX) {
        free(buf);
        return fail(err, errlen, "auth.%s: %s is over %d bytes; not a key file", key, path,
                    AUTH_KEY_FILE_MAX);
    }
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return 0;
}

static int load_secret(auth_state_t *st, const char *path, char *err, size_t errlen)
{
    if (read_key_file("jwt_secret_file", path, &st->key, &st->key_len, err, errlen) != 0) return -1;
    /* The trailing newline an editor or `echo` adds is not part of the
     * secret (ragws.conf documents this); other bytes are kept as they are. */
    while (st->key_len && (st->key[st->key_len - 1] == '\n' || st->key[st->key_len - 1] == '\r'))
        st->key[--st->key_len] = '\0';
    if (st->key_len == 0) return fail(err, errlen, "auth.jwt_secret_file: %s is empty", path);
    st->kind = KEY_SECRET;
    return 0;
}

static int load_public_key(auth_state_t *st, const char *path, char *err, size_t errlen)
{
    if (read_key_file("jwt_public_key_file", path, &st->key, &st->key_len, err, errlen) != 0)
        return -1;
    /* Parse it the way libjwt will on every verify, so a bad file fails
     * here at startup instead of as "bad signature" for every client. */
    BIO *bio = BIO_new_mem_buf(st->key, (int)st->key_len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!pkey)
        return fail(err, errlen,
                    "auth.jwt_public_key_file: %s: no PEM public key "
                    "(\"-----BEGIN PUBLIC KEY-----\"; from a private key: "
                    "openssl pkey -pubout)",
                    path);
    int rc = 0;
    int id = EVP_PKEY_get_id(pkey);
    if (id == EVP_PKEY_RSA) {
        st->kind = KEY_RSA;
    } else if (id == EVP_PKEY_EC) {
        /* ES256 and ES384 each name one curve; other curves (secp256k1
         * has 256 bits too) are not those algorithms. */
        char group[64] = "";
        size_t glen = 0;
        if (!EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen)) group[0] = '\0';
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            st->kind = KEY_EC256;
        else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            st->kind = KEY_EC384;
        else
            rc = fail(err, errlen,
                      "auth.jwt_public_key_file: %s: EC curve %s not supported "
                      "(P-256 for ES256, P-384 for ES384)",
                      path, group[0] ? group : "(unknown)");
    } else {
        rc = fail(err, errlen,
                  "auth.jwt_public_key_file: %s: key type %s not supported "
                  "(RSA or EC P-256/P-384)",
                  path, OBJ_nid2sn(id));
    }
    EVP_PKEY_free(pkey);
    return rc;
}

/* The algorithms the key can verify, and the default when none is listed:
 * one algorithm, the one the key type names first. */
static int choose_algorithms(auth_state_t *st, uint32_t listed, char *err, size_t errlen)
{
    uint32_t can = 0, def = 0;
    const char *what = "";
    switch (st->kind) {
    case KEY_SECRET:
        can = CONFIG_ALG_HS;
        def = CONFIG_ALG_HS256;
        what = "a shared secret (HS256, HS384, HS512)";
        break;
    case KEY_RSA:
        can = CONFIG_ALG_RS;
        def = CONFIG_ALG_RS256;
        what = "an RSA key (RS256, RS384, RS512)";
        break;
    case KEY_EC256:
        can = def = CONFIG_ALG_ES256;
        what = "an EC P-256 key (ES256)";
        break;
    case KEY_EC384:
        can = def = CONFIG_ALG_ES384;
        what = "an EC P-384 key (ES384)";
        break;
    case KEY_NONE: break;
    }
    uint32_t bad = listed & ~can;
    if (bad) {
        uint32_t bit = bad & -bad;
        return fail(err, errlen, "auth.algorithms: %s cannot be verified with %s",
                    config_alg_name(bit), what);
    }
    st->algs = listed ? listed : def;
    return 0;
}

/* Does pattern (literal text, "{}" = one non-empty segment) match s? With
 * prefix, it is enough that s is a prefix of something pattern matches. */
static int pattern_match(const char *pat, const char *s, size_t n, int prefix)
{
    size_t i = 0;
    while (*pat) {
        if (i == n) return prefix;
        if (pat[0] == '{' && pat[1] == '}') {
            size_t start = i;
            while (i < n && s[i] != '/') i++;
            if (i == start) return 0;
            pat += 2;
            continue;
        }
        if (*pat++ != s[i++]) return 0;
    }
    return i == n;
}

/* How a path is guarded: ROUTE_USER, ROUTE_PUBLIC, ROUTE_ADMIN, or
 * ROUTE_NONE when nothing is served there; with prefix, the strongest
 * reason for refusal is not needed: any USER route under it is enough. */
static int path_kind(const char *p, size_t n, int prefix)
{
    static const char sio[] = "/socket.io/";
    if (pattern_match(sio, p, n, prefix)) return ROUTE_USER;
    for (size_t i = 0; endpoint_at(i); i++) {
        const endpoint_t *ep = endpoint_at(i);
        if (pattern_match(ep->path, p, n, prefix) && (!prefix || !ep->admin))
            return ep->admin ? ROUTE_ADMIN : ROUTE_USER;
    }
    for (size_t i = 0; rest_routes[i].pattern; i++) {
        const rest_route_t *r = &rest_routes[i];
        if (pattern_match(r->pattern, p, n, prefix) && (!prefix || r->kind == ROUTE_USER))
            return r->kind;
    }
    return ROUTE_NONE;
}

/* auth.endpoints: each item names a path (or prefix*) where a token means
 * something; check-config and the workers refuse the same lists. */
static int check_endpoints(const char *list, char *err, size_t errlen)
{
    const char *p = list, *end = p + strlen(p);
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *b = p, *e = comma ? comma : end;
        while (b < e && (*b == ' ' || *b == '\t')) b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
        p = comma ? comma + 1 : end;
        if (b == e) continue;
        int prefix = e[-1] == '*';
        int kind = path_kind(b, (size_t)(e - b) - (size_t)prefix, prefix);
        int len = (int)(e - b);
        if (kind == ROUTE_NONE)
            return fail(err, errlen,
                        "auth.endpoints: %.*s matches no WebSocket endpoint or REST "
                        "route (admin and public paths do not take a user token)",
                        len, b);
        if (kind == ROUTE_PUBLIC)
            return fail(err, errlen, "auth.endpoints: %.*s is always public (health and metrics)",
                        len, b);
        if (kind == ROUTE_ADMIN)
            return fail(err, errlen,
                        "auth.endpoints: %.*s is an admin path: it takes the token of "
                        "auth.admin_token_file, not a JWT",
                        len, b);
    }
    return 0;
}

int auth_init(const ragws_config_t *cfg, char *err, size_t errlen)
{
    auth_state_t st;
    memset(&st, 0, sizeof st);
    st.mode = cfg->auth_mode;
    snprintf(st.endpoints, sizeof st.endpoints, "%s", cfg->auth_endpoints);

    if (st.mode == AUTH_JWT) {
        int has_secret = cfg->jwt_secret_file[0] != '\0';
        int has_pub = cfg->jwt_public_key_file[0] != '\0';
        int rc;
        if (!has_secret && !has_pub)
            return fail(err, errlen,
                        "auth.mode = jwt needs auth.jwt_secret_file or "
                        "auth.jwt_public_key_file");
        /* With both, an HS256 token could pass on the secret although the
         * operator meant asymmetric keys only: make them choose. */
        if (has_secret && has_pub)
            return fail(err, errlen,
                        "auth.jwt_secret_file and auth.jwt_public_key_file "
                        "are exclusive: set one");
        rc = has_secret ? load_secret(&st, cfg->jwt_secret_file, err, errlen)
                        : load_public_key(&st, cfg->jwt_public_key_file, err, errlen);
        if (rc == 0) rc = choose_algorithms(&st, cfg->auth_alg_mask, err, errlen);
        if (rc != 0) {
            state_free(&st);
            return -1;
        }
    }
    st.leeway_s = cfg->auth_leeway_ms / 1000.0;
    if (check_endpoints(st.endpoints, err, errlen) != 0) {
        state_free(&st);
        return -1;
    }
    /* Swap only on success: a failed reload keeps the working keys. */
    state_free(&g_auth);
    g_auth = st;
    return 0;
}

void auth_shutdown(void) { state_free(&g_auth); }

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
    int kind = path_kind(path, len, 0);
    if (kind == ROUTE_PUBLIC || kind == ROUTE_ADMIN)
        return 0; /* never a user token: always open, or the admin token */
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
    /* Empty list: every path but the public and admin ones, unknown paths
     * included (a 401 before the 404 tells nothing about the routes). */
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
        if ((g_auth.algs & bit) && strcmp(alg, config_alg_name(bit)) == 0) return libjwt[i];
    }
    return JWT_ALG_INVAL;
}

static int numeric_claim_ok(json_t *payload, const char *name)
{
    json_t *v = json_object_get(payload, name);
    return !v || json_is_number(v);
}

int auth_verify(const char *token, size_t len, char *sub, size_t sublen, char *why, size_t whylen)
{
    char buf[AUTH_TOKEN_MAX + 1]; /* libjwt wants a C string */
    json_t *header = NULL, *payload = NULL;
    jwt_t *jwt = NULL;
    const char *reason = "malformed token";

    if (sub && sublen) sub[0] = '\0';
    if (!token || len == 0) {
        set_why(why, whylen, "missing token");
        return -1;
    }
    if (len > AUTH_TOKEN_MAX || memchr(token, '\0', len)) goto out;
    memcpy(buf, token, len);
    buf[len] = '\0';

    /* Exactly header.payload.signature, all base64url: anything else
     * (JWE's five parts, padding, whitespace) is not ours to guess at. */
    const char *d1 = memchr(buf, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - buf)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - buf))) goto out;
    size_t hlen = (size_t)(d1 - buf), plen = (size_t)(d2 - d1 - 1);
    size_t slen = len - (size_t)(d2 + 1 - buf);
    if (hlen == 0 || plen == 0) goto out;
    for (size_t i = 0; i < slen; i++)
        if (b64url_val((unsigned char)d2[1 + i]) < 0) goto out;

    header = decode_json_part(buf, hlen);
    payload = header ? decode_json_part(d1 + 1, plen) : NULL;
    if (!payload) goto out;
    const char *alg = json_string_value(json_object_get(header, "alg"));
    json_t *typ = json_object_get(header, "typ");
    if (!alg || (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0)))
        goto out; /* libjwt refuses other typ values too */
    /* Critical extensions (RFC 7515 4.1.11) are not understood here. */
    if (json_object_get(header, "crit")) goto out;

    /* Policy before any cryptography: the token does not get to choose
     * how it is checked ("none", HS* against a public key, ...). */
    jwt_alg_t want = allowed_alg(alg);
    if (want == JWT_ALG_INVAL) {
        reason = "algorithm not allowed";
        goto out;
    }
    if (slen == 0) {
        reason = "bad signature";
        goto out;
    }
    json_t *jsub = json_object_get(payload, "sub");
    if (!numeric_claim_ok(payload, "exp") || !numeric_claim_ok(payload, "nbf") ||
        (jsub && !json_is_string(jsub)))
        goto out;

    if (jwt_decode(&jwt, buf, g_auth.key, (int)g_auth.key_len) != 0 || !jwt) {
        reason = "bad signature";
        goto out;
    }
    if (jwt_get_alg(jwt) != want) { /* both parsers must agree */
        reason = "algorithm not allowed";
        goto out;
    }

    /* Times only after the signature, so forgeries learn nothing. The
     * claims come from the payload just verified (same bytes); NumericDate
     * may be fractional, which libjwt's integer getter would misread. */
    double now = (double)time(NULL);
    json_t *exp = json_object_get(payload, "exp");
    json_t *nbf = json_object_get(payload, "nbf");
    if (exp && now >= json_number_value(exp) + g_auth.leeway_s) {
        reason = "token expired";
        goto out;
    }
    if (nbf && now + g_auth.leeway_s < json_number_value(nbf)) {
        reason = "token not yet valid";
        goto out;
    }

    const char *s = jwt_get_grant(jwt, "sub");
    if (s && sub && sublen) {
        if (strlen(s) >= sublen) goto out; /* a cut identity could name someone else */
        memcpy(sub, s, strlen(s) + 1);
    }
    reason = NULL;

out:
    if (jwt) jwt_free(jwt);
    json_decref(header);
    json_decref(payload);
    OPENSSL_cleanse(buf, len <= AUTH_TOKEN_MAX ? len : 0);
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

char *auth_error_json(const char *why)
{
    char msg[512];
    snprintf(msg, sizeof msg, "Authentication failed: %s", why && *why ? why : "invalid token");
    json_t *o = json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "auth_error", "data", "code",
                          "INVALID_TOKEN", "message", msg, "action", "reconnect_with_valid_token");
    if (!o) return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}
