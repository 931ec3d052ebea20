/* Unit tests for worker/auth.c. Tokens are made with libjwt (and by hand
 * where libjwt would refuse to make them); RSA and EC keys are generated at
 * test time into a temporary directory. */
#include "tests/unit/unit.h"
#include "base/config.h"
#include "protocol/gateway.h"
#include "worker/api/routes.h"
#include "worker/svc/auth.h"
#include "protocol/http_parser.h"

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define SECRET "unit-test-secret-0123456789abcdef"

static char tmpdir[64];
static ragws_config_t cfg;
static char err[1024];
static char sub[AUTH_SUB_MAX], why[128];

/* PEM texts kept for signing (private) and as the confusion "secret". */
static char *rsa_priv, *rsa_pub, *ec_priv, *ec_pub, *ec384_priv;
static char path_secret[PATH_MAX], path_rsa_pub[PATH_MAX], path_ec_pub[PATH_MAX];
static char path_rsa_priv[PATH_MAX], path_bad_pem[PATH_MAX], path_empty[PATH_MAX];

static void die(const char *what)
{
    fprintf(stderr, "test setup failed: %s\n", what);
    exit(2);
}

static void write_file(char *path, const char *name, const char *text)
{
    snprintf(path, PATH_MAX, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f) die(path);
    fputs(text, f);
    fclose(f);
}

static char *bio_text(BIO *bio)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *s = malloc((size_t)n + 1);
    if (!s) die("malloc");
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    BIO_free(bio);
    return s;
}

/* Generates a key pair; returns private and public PEM texts. */
static void make_keys(EVP_PKEY *pkey, char **priv, char **pub)
{
    if (!pkey) die("key generation");
    BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem());
    if (!PEM_write_bio_PrivateKey(b1, pkey, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_PUBKEY(b2, pkey))
        die("PEM write");
    *priv = bio_text(b1);
    *pub = bio_text(b2);
    EVP_PKEY_free(pkey);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ragws-auth-XXXXXX");
    if (!mkdtemp(tmpdir)) die("mkdtemp");
    char *ec384_pub;
    make_keys(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), &rsa_priv, &rsa_pub);
    make_keys(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), &ec_priv, &ec_pub);
    make_keys(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), &ec384_priv, &ec384_pub);
    free(ec384_pub);
    write_file(path_secret, "secret", SECRET "\n");
    write_file(path_rsa_pub, "rsa_pub.pem", rsa_pub);
    write_file(path_ec_pub, "ec_pub.pem", ec_pub);
    write_file(path_rsa_priv, "rsa_priv.pem", rsa_priv);
    write_file(path_bad_pem, "bad.pem",
               "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n");
    write_file(path_empty, "empty", "\n");
}

static void teardown(void)
{
    const char *paths[] = {path_secret,   path_rsa_pub, path_ec_pub,
                           path_rsa_priv, path_bad_pem, path_empty};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) unlink(paths[i]);
    rmdir(tmpdir);
    free(rsa_priv);
    free(rsa_pub);
    free(ec_priv);
    free(ec_pub);
    free(ec384_priv);
}

/* Configures jwt mode with one of the key files and loads it. */
static int init_with(const char *secret_file, const char *pub_file)
{
    config_defaults(&cfg);
    cfg.auth_mode = AUTH_JWT;
    snprintf(cfg.jwt_secret_file, sizeof cfg.jwt_secret_file, "%s", secret_file);
    snprintf(cfg.jwt_public_key_file, sizeof cfg.jwt_public_key_file, "%s", pub_file);
    err[0] = '\0';
    return auth_init(&cfg, err, sizeof err);
}

#define NO_TIME LONG_MIN
/* auth.leeway default (ragws.conf), seconds. */
#define LEEWAY_S 30

/* A libjwt-made token; caller frees. */
static char *make_token(jwt_alg_t alg, const char *key, size_t keylen, const char *subject,
                        long exp, long nbf)
{
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0) die("jwt_new");
    if (subject) jwt_add_grant(jwt, "sub", subject);
    jwt_add_grant_int(jwt, "iat", (long)time(NULL));
    if (exp != NO_TIME) jwt_add_grant_int(jwt, "exp", exp);
    if (nbf != NO_TIME) jwt_add_grant_int(jwt, "nbf", nbf);
    if (jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)keylen) != 0) die("jwt_set_alg");
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    if (!t) die("jwt_encode_str");
    return t;
}

static char *hs256(const char *subject, long exp, long nbf)
{
    return make_token(JWT_ALG_HS256, SECRET, strlen(SECRET), subject, exp, nbf);
}

static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n) v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = A[(v >> 18) & 63];
        out[o++] = A[(v >> 12) & 63];
        if (i + 1 < n) out[o++] = A[(v >> 6) & 63];
        if (i + 2 < n) out[o++] = A[v & 63];
    }
    out[o] = '\0';
}

/* A hand-made HS256 token over exact header and payload JSON texts, for
 * shapes libjwt will not produce. */
static void craft_hs256(const char *header, const char *payload, const char *secret, char *out)
{
    char h[512], p[512];
    b64url((const unsigned char *)header, strlen(header), h);
    b64url((const unsigned char *)payload, strlen(payload), p);
    sprintf(out, "%s.%s", h, p);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)out, strlen(out), mac,
         &maclen);
    strcat(out, ".");
    b64url(mac, maclen, out + strlen(out));
}

static int verify(const char *t)
{
    sub[0] = why[0] = '\0';
    return auth_verify(t, t ? strlen(t) : 0, sub, sizeof sub, why, sizeof why);
}

/* ---- verification ---- */

static void test_hs256_valid(void)
{
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    long now = (long)time(NULL);
    char *t = hs256("alice", now + 600, now - 10);
    CHECK_EQ_INT(verify(t), 0);
    CHECK_EQ_STR(sub, "alice");
    CHECK_EQ_STR(why, "");
    free(t);
    /* No sub and no times: valid, sub empty. */
    t = hs256(NULL, NO_TIME, NO_TIME);
    strcpy(sub, "stale");
    CHECK_EQ_INT(verify(t), 0);
    CHECK_EQ_STR(sub, "");
    free(t);
    /* Inside the leeway on both ends. */
    t = hs256("bob", now - LEEWAY_S / 2, now + LEEWAY_S / 2);
    CHECK_EQ_INT(verify(t), 0);
    CHECK_EQ_STR(sub, "bob");
    free(t);
}

static void test_expired(void)
{
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    long now = (long)time(NULL);
    char *t = hs256("alice", now - 3600, NO_TIME);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "token expired");
    CHECK_EQ_STR(sub, "");
    free(t);
    t = hs256("alice", now - LEEWAY_S - 5, NO_TIME);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "token expired");
    free(t);
    /* NumericDate may be fractional (RFC 7519 section 2). */
    char c[1024];
    craft_hs256("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"sub\":\"x\",\"exp\":1000.5}", SECRET, c);
    CHECK_EQ_INT(verify(c), -1);
    CHECK_EQ_STR(why, "token expired");
}

static void test_nbf_future(void)
{
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    long now = (long)time(NULL);
    char *t = hs256("alice", now + 7200, now + 3600);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "token not yet valid");
    free(t);
}

static void test_wrong_secret(void)
{
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    const char *other = "another-secret-0123456789abcdef!";
    char *t = make_token(JWT_ALG_HS256, other, strlen(other), "alice", NO_TIME, NO_TIME);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "bad signature");
    free(t);
    /* Expired and forged: the signature is reported, not the time. */
    t = make_token(JWT_ALG_HS256, other, strlen(other), "alice", (long)time(NULL) - 3600, NO_TIME);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "bad signature");
    free(t);
}

static void test_alg_none(void)
{
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    char *t = make_token(JWT_ALG_NONE, NULL, 0, "root", NO_TIME, NO_TIME);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "algorithm not allowed");
    CHECK_EQ_STR(sub, "");
    free(t);
    /* "none" with a signature attached, and spelling variants. */
    char c[1024];
    craft_hs256("{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"root\"}", SECRET, c);
    CHECK_EQ_INT(verify(c), -1);
    CHECK_EQ_STR(why, "algorithm not allowed");
    craft_hs256("{\"alg\":\"hs256\",\"typ\":\"JWT\"}", "{\"sub\":\"root\"}", SECRET, c);
    CHECK_EQ_INT(verify(c), -1);
    CHECK_EQ_STR(why, "algorithm not allowed");
    /* HS512 is not HS256, even with the right secret. */
    t = make_token(JWT_ALG_HS512, SECRET, strlen(SECRET), "root", NO_TIME, NO_TIME);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "algorithm not allowed");
    free(t);
    /* RS256 against a secret. */
    t = make_token(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), "root", NO_TIME, NO_TIME);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "algorithm not allowed");
    free(t);
}

static void test_alg_confusion(void)
{
    CHECK_EQ_INT(init_with("", path_rsa_pub), 0);
    /* The attacker knows the public key and uses its PEM as HMAC secret. */
    char *t = make_token(JWT_ALG_HS256, rsa_pub, strlen(rsa_pub), "admin", NO_TIME, NO_TIME);
    /* libjwt on its own accepts this: the check in auth.c is what stops it. */
    jwt_t *jwt = NULL;
    CHECK_EQ_INT(jwt_decode(&jwt, t, (const unsigned char *)rsa_pub, (int)strlen(rsa_pub)), 0);
    jwt_free(jwt);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "algorithm not allowed");
    CHECK_EQ_STR(sub, "");
    free(t);
    /* ES256 token against an RSA key. */
    t = make_token(JWT_ALG_ES256, ec_priv, strlen(ec_priv), "admin", NO_TIME, NO_TIME);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "algorithm not allowed");
    free(t);
}

static void test_rs256_valid(void)
{
    CHECK_EQ_INT(init_with("", path_rsa_pub), 0);
    long now = (long)time(NULL);
    char *t = make_token(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), "carol", now + 600, now);
    CHECK_EQ_INT(verify(t), 0);
    CHECK_EQ_STR(sub, "carol");
    free(t);
    /* Default list: RS256 alone. */
    t = make_token(JWT_ALG_RS512, rsa_priv, strlen(rsa_priv), "dave", NO_TIME, NO_TIME);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "algorithm not allowed");
    free(t);
    t = make_token(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), "carol", now - 3600, NO_TIME);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "token expired");
    free(t);
}

static void test_algorithms_listed(void)
{
    config_defaults(&cfg);
    cfg.auth_mode = AUTH_JWT;
    snprintf(cfg.jwt_public_key_file, sizeof cfg.jwt_public_key_file, "%s", path_rsa_pub);
    CHECK_EQ_INT(config_set(&cfg, "auth", "algorithms", "RS256, RS512", err, sizeof err), 0);
    CHECK_EQ_INT(auth_init(&cfg, err, sizeof err), 0);
    char *t = make_token(JWT_ALG_RS512, rsa_priv, strlen(rsa_priv), "dave", NO_TIME, NO_TIME);
    CHECK_EQ_INT(verify(t), 0);
    CHECK_EQ_STR(sub, "dave");
    free(t);
    t = make_token(JWT_ALG_RS384, rsa_priv, strlen(rsa_priv), "dave", NO_TIME, NO_TIME);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "algorithm not allowed");
    free(t);
    /* A list the key cannot verify is refused at init. */
    CHECK_EQ_INT(config_set(&cfg, "auth", "algorithms", "ES256", err, sizeof err), 0);
    CHECK_EQ_INT(auth_init(&cfg, err, sizeof err), -1);
    CHECK(strstr(err, "ES256 cannot be verified with an RSA key") != NULL);
    /* Names: none and unknown ones are configuration errors, so is a mix. */
    CHECK_EQ_INT(config_set(&cfg, "auth", "algorithms", "none", err, sizeof err), -1);
    CHECK(strstr(err, "never accepted") != NULL);
    CHECK_EQ_INT(config_set(&cfg, "auth", "algorithms", "RS256, PS256", err, sizeof err), -1);
    CHECK(strstr(err, "unknown JWT algorithm \"PS256\"") != NULL);
    CHECK_EQ_INT(config_set(&cfg, "auth", "algorithms", "HS256,RS256", err, sizeof err), -1);
    CHECK_EQ_INT(config_set(&cfg, "auth", "algorithms", "rs256", err, sizeof err), -1);
}

static void test_leeway_setting(void)
{
    config_defaults(&cfg);
    cfg.auth_mode = AUTH_JWT;
    snprintf(cfg.jwt_secret_file, sizeof cfg.jwt_secret_file, "%s", path_secret);
    CHECK_EQ_INT(config_set(&cfg, "auth", "leeway", "0", err, sizeof err), 0);
    CHECK_EQ_INT(auth_init(&cfg, err, sizeof err), 0);
    long now = (long)time(NULL);
    char *t = hs256("bob", now - 2, NO_TIME); /* expired 2 s ago, no leeway */
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "token expired");
    CHECK_EQ_INT(config_set(&cfg, "auth", "leeway", "2m", err, sizeof err), 0);
    CHECK_EQ_INT(auth_init(&cfg, err, sizeof err), 0);
    CHECK_EQ_INT(verify(t), 0);
    free(t);
    t = hs256("bob", NO_TIME, now + 100); /* nbf inside two minutes */
    CHECK_EQ_INT(verify(t), 0);
    free(t);
    CHECK_EQ_INT(config_set(&cfg, "auth", "leeway", "10m", err, sizeof err), -1);
}

static void test_es256_valid(void)
{
    CHECK_EQ_INT(init_with("", path_ec_pub), 0);
    char *t = make_token(JWT_ALG_ES256, ec_priv, strlen(ec_priv), "erin", (long)time(NULL) + 600,
                         NO_TIME);
    CHECK_EQ_INT(verify(t), 0);
    CHECK_EQ_STR(sub, "erin");
    free(t);
    /* ES384 (another curve) and RS256 against a P-256 key. */
    t = make_token(JWT_ALG_ES384, ec384_priv, strlen(ec384_priv), "erin", NO_TIME, NO_TIME);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "algorithm not allowed");
    free(t);
    t = make_token(JWT_ALG_RS256, rsa_priv, strlen(rsa_priv), "erin", NO_TIME, NO_TIME);
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "algorithm not allowed");
    free(t);
}

static void test_tampered_payload(void)
{
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    char *t = hs256("alice", NO_TIME, NO_TIME);
    char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
    char forged[2048], p[256];
    const char *payload = "{\"sub\":\"admin\"}";
    b64url((const unsigned char *)payload, strlen(payload), p);
    snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(d1 - t), t, p, d2);
    CHECK_EQ_INT(verify(forged), -1);
    CHECK_EQ_STR(why, "bad signature");
    /* Signature stripped. */
    snprintf(forged, sizeof forged, "%.*s.", (int)(d2 - t), t);
    CHECK_EQ_INT(verify(forged), -1);
    CHECK_EQ_STR(why, "bad signature");
    free(t);
}

static void test_garbage(void)
{
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    const char *bad[] = {
        "garbage",
        "a.b",
        "a.b.c.d",
        "eyJ.eyJ.abc",
        "!!!.???.xyz",
        "..",
        "eyJhbGciOiJIUzI1NiJ9..sig",                 /* empty payload */
        "eyJhbGciOiJIUzI1NiJ9.W10.c2ln",             /* payload is [] */
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.a+b/", /* not base64url */
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0=.sig", /* padding */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ_INT(verify(bad[i]), -1);
        CHECK_EQ_STR(why, "malformed token");
    }
    char c[1024];
    /* Two "alg" keys could be read differently by two parsers. */
    craft_hs256("{\"alg\":\"HS256\",\"alg\":\"none\"}", "{\"sub\":\"x\"}", SECRET, c);
    CHECK_EQ_INT(verify(c), -1);
    CHECK_EQ_STR(why, "malformed token");
    craft_hs256("{\"alg\":\"HS256\",\"typ\":\"JWE\"}", "{\"sub\":\"x\"}", SECRET, c);
    CHECK_EQ_INT(verify(c), -1);
    CHECK_EQ_STR(why, "malformed token");
    craft_hs256("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", "{\"sub\":\"x\"}", SECRET,
                c);
    CHECK_EQ_INT(verify(c), -1);
    CHECK_EQ_STR(why, "malformed token");
    craft_hs256("{\"alg\":\"HS256\"}", "{\"sub\":\"x\",\"exp\":\"tomorrow\"}", SECRET, c);
    CHECK_EQ_INT(verify(c), -1);
    CHECK_EQ_STR(why, "malformed token");
    craft_hs256("{\"alg\":\"HS256\"}", "{\"sub\":42}", SECRET, c);
    CHECK_EQ_INT(verify(c), -1);
    CHECK_EQ_STR(why, "malformed token");
    /* A hand-made token without typ is fine (typ is optional). */
    craft_hs256("{\"alg\":\"HS256\"}", "{\"sub\":\"x\"}", SECRET, c);
    CHECK_EQ_INT(verify(c), 0);
    CHECK_EQ_STR(sub, "x");
    /* An embedded NUL must not cut the token short for libjwt. */
    char *t = hs256("alice", NO_TIME, NO_TIME);
    size_t n = strlen(t);
    char withnul[2048];
    memcpy(withnul, t, n);
    withnul[n] = '\0';
    memcpy(withnul + n + 1, "junk", 4);
    CHECK_EQ_INT(auth_verify(withnul, n + 5, sub, sizeof sub, why, sizeof why), -1);
    CHECK_EQ_STR(why, "malformed token");
    CHECK_EQ_INT(auth_verify(withnul, n, sub, sizeof sub, why, sizeof why), 0);
    /* A sub that does not fit is refused, not cut. */
    char small[4];
    CHECK_EQ_INT(auth_verify(t, n, small, sizeof small, why, sizeof why), -1);
    CHECK_EQ_STR(small, "");
    CHECK_EQ_INT(auth_verify(t, n, NULL, 0, NULL, 0), 0);
    free(t);
}

static void test_empty(void)
{
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    CHECK_EQ_INT(verify(""), -1);
    CHECK_EQ_STR(why, "missing token");
    CHECK_EQ_INT(auth_verify(NULL, 0, sub, sizeof sub, why, sizeof why), -1);
    CHECK_EQ_STR(why, "missing token");
}

static void test_too_long(void)
{
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    size_t n = AUTH_TOKEN_MAX + 1;
    char *t = malloc(n + 1);
    memset(t, 'a', n);
    t[n] = '\0';
    memcpy(t, "eyJ", 3);
    t[100] = '.';
    t[200] = '.';
    CHECK_EQ_INT(verify(t), -1);
    CHECK_EQ_STR(why, "malformed token");
    free(t);
}

static void test_mode_off(void)
{
    config_defaults(&cfg);
    CHECK_EQ_INT(auth_init(&cfg, err, sizeof err), 0);
    CHECK_EQ_INT(auth_path_protected("/ws/query", 9), 0);
    char *t = hs256("alice", NO_TIME, NO_TIME);
    CHECK_EQ_INT(verify(t), -1); /* no key: nothing verifies */
    CHECK_EQ_STR(why, "algorithm not allowed");
    free(t);
}

/* ---- token extraction ---- */

static http_request_t req;
static char raw[32768];
static char tok[AUTH_TOKEN_BUF], echo[AUTH_TOKEN_BUF];

static size_t extract(const char *target, const char *headers)
{
    snprintf(raw, sizeof raw,
             "GET %s HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n",
             target, headers);
    memset(&req, 0, sizeof req);
    int rc = http_parse_request(raw, strlen(raw), sizeof raw, &req);
    if (rc <= 0) {
        fprintf(stderr, "  request did not parse (%d)\n", rc);
        return (size_t)-1;
    }
    strcpy(echo, "stale");
    return auth_token_from_request(&req, tok, sizeof tok, echo, sizeof echo);
}

static void test_extract_header(void)
{
    char *t = hs256("alice", NO_TIME, NO_TIME), h[2048];
    snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", t);
    CHECK_EQ_INT(extract("/ws/query", h), strlen(t));
    CHECK_EQ_STR(tok, t);
    CHECK_EQ_STR(echo, "");
    snprintf(h, sizeof h, "authorization: bearer   %s\r\n", t);
    CHECK_EQ_INT(extract("/ws/query", h), strlen(t));
    CHECK_EQ_STR(tok, t);
    /* Another scheme is not a bearer token. */
    CHECK_EQ_INT(extract("/ws/query", "Authorization: Basic dXNlcjpwYXNz\r\n"), 0);
    CHECK_EQ_STR(tok, "");
    CHECK_EQ_INT(extract("/ws/query", "Authorization: Bearer\r\n"), 0);
    CHECK_EQ_INT(extract("/ws/query", ""), 0);
    CHECK_EQ_STR(echo, "");
    free(t);
}

static void test_extract_query(void)
{
    char *t = hs256("alice", NO_TIME, NO_TIME), target[2048];
    snprintf(target, sizeof target, "/api/v1/ws?client=web&token=%s", t);
    CHECK_EQ_INT(extract(target, ""), strlen(t));
    CHECK_EQ_STR(tok, t);
    CHECK_EQ_STR(echo, "");
    CHECK_EQ_INT(extract("/api/v1/ws?token=", ""), 0);
    /* Basic auth does not hide ?token=. */
    CHECK_EQ_INT(extract(target, "Authorization: Basic dXNlcjpwYXNz\r\n"), strlen(t));
    CHECK_EQ_STR(tok, t);
    /* Over the limit: cut to one byte past it, which auth_verify refuses. */
    char *big = malloc(AUTH_TOKEN_MAX + 200);
    strcpy(big, "/ws/query?token=");
    size_t n = strlen(big);
    memset(big + n, 'A', AUTH_TOKEN_MAX + 100);
    big[n + AUTH_TOKEN_MAX + 100] = '\0';
    size_t got = extract(big, "");
    CHECK_EQ_INT(got, AUTH_TOKEN_MAX + 1);
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    CHECK_EQ_INT(auth_verify(tok, got, sub, sizeof sub, why, sizeof why), -1);
    CHECK_EQ_STR(why, "malformed token");
    free(big);
    free(t);
}

static void test_extract_protocol(void)
{
    char *t = hs256("alice", NO_TIME, NO_TIME), h[2048];
    /* Bare JWT among other offers: the JWT itself is echoed. */
    snprintf(h, sizeof h, "Sec-WebSocket-Protocol: graphql-ws, %s\r\n", t);
    CHECK_EQ_INT(extract("/ws/query", h), strlen(t));
    CHECK_EQ_STR(tok, t);
    CHECK_EQ_STR(echo, t);
    /* Marker pairs: the marker is echoed, as offered. */
    snprintf(h, sizeof h, "Sec-WebSocket-Protocol: access_token, %s\r\n", t);
    CHECK_EQ_INT(extract("/ws/query", h), strlen(t));
    CHECK_EQ_STR(tok, t);
    CHECK_EQ_STR(echo, "access_token");
    snprintf(h, sizeof h, "Sec-WebSocket-Protocol: Bearer,%s\r\n", t);
    CHECK_EQ_INT(extract("/ws/query", h), strlen(t));
    CHECK_EQ_STR(tok, t);
    CHECK_EQ_STR(echo, "Bearer");
    /* Offers spread over two header lines. */
    snprintf(h, sizeof h, "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: bearer, %s\r\n",
             t);
    CHECK_EQ_INT(extract("/ws/query", h), strlen(t));
    CHECK_EQ_STR(tok, t);
    CHECK_EQ_STR(echo, "bearer");
    /* Dotted subprotocol names are not tokens. */
    CHECK_EQ_INT(extract("/ws/query", "Sec-WebSocket-Protocol: wamp.2.json, v1.chat.x\r\n"), 0);
    CHECK_EQ_STR(echo, "");
    CHECK_EQ_INT(extract("/ws/query", "Sec-WebSocket-Protocol: bearer\r\n"), 0);
    /* The extracted token verifies. */
    snprintf(h, sizeof h, "Sec-WebSocket-Protocol: %s\r\n", t);
    size_t n = extract("/ws/query", h);
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    CHECK_EQ_INT(auth_verify(tok, n, sub, sizeof sub, why, sizeof why), 0);
    CHECK_EQ_STR(sub, "alice");
    /* An echo that does not fit stays empty rather than wrong. */
    char small[16];
    CHECK_EQ_INT(auth_token_from_request(&req, tok, sizeof tok, small, sizeof small), strlen(t));
    CHECK_EQ_STR(small, "");
    free(t);
}

static void test_extract_precedence(void)
{
    char *a = hs256("from-header", NO_TIME, NO_TIME);
    char *b = hs256("from-query", NO_TIME, NO_TIME);
    char *c = hs256("from-protocol", NO_TIME, NO_TIME);
    char h[4096], target[2048];
    snprintf(target, sizeof target, "/ws/query?token=%s", b);
    snprintf(h, sizeof h, "Sec-WebSocket-Protocol: %s\r\nAuthorization: Bearer %s\r\n", c, a);
    CHECK_EQ_INT(extract(target, h), strlen(a));
    CHECK_EQ_STR(tok, a);
    CHECK_EQ_STR(echo, "");
    snprintf(h, sizeof h, "Sec-WebSocket-Protocol: %s\r\n", c);
    CHECK_EQ_INT(extract(target, h), strlen(b));
    CHECK_EQ_STR(tok, b);
    CHECK_EQ_STR(echo, "");
    CHECK_EQ_INT(extract("/ws/query", h), strlen(c));
    CHECK_EQ_STR(tok, c);
    CHECK_EQ_STR(echo, c);
    free(a);
    free(b);
    free(c);
}

/* ---- paths, init, error message ---- */

static void test_path_protected(void)
{
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    CHECK_EQ_INT(routes_path_protected("/ws/query", 9), 1);
    CHECK_EQ_INT(routes_path_protected("/anything", 9), 1);

    config_defaults(&cfg);
    CHECK_EQ_INT(config_set(&cfg, "auth", "mode", "jwt", err, sizeof err), 0);
    CHECK_EQ_INT(config_set(&cfg, "auth", "jwt_secret_file", path_secret, err, sizeof err), 0);
    CHECK_EQ_INT(config_set(&cfg, "auth", "endpoints", "/ws/query, /api/v1/ws", err, sizeof err),
                 0);
    CHECK_EQ_INT(auth_init(&cfg, err, sizeof err), 0);
    CHECK_EQ_INT(routes_path_protected("/ws/query", 9), 1);
    CHECK_EQ_INT(routes_path_protected("/api/v1/ws", 10), 1);
    CHECK_EQ_INT(routes_path_protected("/ws/monitor", 11), 0);
    CHECK_EQ_INT(routes_path_protected("/ws/quer", 8), 0);
    CHECK_EQ_INT(routes_path_protected("/ws/query/x", 11), 0);
    /* Length is honoured: "/ws/query" inside a longer buffer. */
    CHECK_EQ_INT(routes_path_protected("/ws/query?x", 9), 1);
    CHECK_EQ_INT(routes_path_protected("/api/query", 10), 0);

    /* Default list: REST user routes too, never public or admin paths. */
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    CHECK_EQ_INT(routes_path_protected("/api/query", 10), 1);
    CHECK_EQ_INT(routes_path_protected("/api/conversations/7/messages", 29), 1);
    CHECK_EQ_INT(routes_path_protected("/health", 7), 0);
    CHECK_EQ_INT(routes_path_protected("/ready", 6), 0);
    CHECK_EQ_INT(routes_path_protected("/metrics", 8), 0);
    CHECK_EQ_INT(routes_path_protected("/api/broadcast", 14), 0);
    CHECK_EQ_INT(routes_path_protected("/ws/publish", 11), 0);
    CHECK_EQ_INT(routes_path_protected("/api/projects/p1/updates", 24), 0);

    /* REST paths and prefixes in the list are what is enforced. */
    CHECK_EQ_INT(
        config_set(&cfg, "auth", "endpoints", "/api/query, /api/conversations/*", err, sizeof err),
        0);
    CHECK_EQ_INT(auth_init(&cfg, err, sizeof err), 0);
    CHECK_EQ_INT(routes_path_protected("/api/query", 10), 1);
    CHECK_EQ_INT(routes_path_protected("/api/conversations/7/messages", 29), 1);
    CHECK_EQ_INT(routes_path_protected("/api/collections", 16), 0);
    CHECK_EQ_INT(routes_path_protected("/ws/query", 9), 0);

    /* What check-config refuses, the workers refuse too (same routes_check_config). */
    static const char *const bad[] = {"/api/querry",    "/health",     "/metrics",
                                      "/api/broadcast", "/ws/publish", "/api/projects/*",
                                      "/nothing*"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(config_set(&cfg, "auth", "endpoints", bad[i], err, sizeof err), 0);
        CHECK_EQ_INT(routes_check_config(&cfg, err, sizeof err), -1);
        CHECK(strstr(err, "auth.endpoints") != NULL);
    }
    CHECK_EQ_INT(config_set(&cfg, "auth", "endpoints", "ws/query", err, sizeof err), -1);
    CHECK_EQ_INT(config_set(&cfg, "auth", "endpoints", "/ws/*x", err, sizeof err), -1);
    CHECK_EQ_INT(config_set(&cfg, "auth", "endpoints", "/api/*", err, sizeof err), 0);
    CHECK_EQ_INT(auth_init(&cfg, err, sizeof err), 0);
    CHECK_EQ_INT(routes_path_protected("/api/collections/docs", 21), 1);
    CHECK_EQ_INT(routes_path_protected("/api/broadcast", 14), 0);
}

static void test_init_errors(void)
{
    CHECK_EQ_INT(init_with("/nonexistent/ragws-secret", ""), -1);
    CHECK(strstr(err, "auth.jwt_secret_file: cannot read /nonexistent/ragws-secret") == err);
    CHECK_EQ_INT(init_with("", "/nonexistent/key.pem"), -1);
    CHECK(strstr(err, "auth.jwt_public_key_file: cannot read") == err);
    CHECK_EQ_INT(init_with("", ""), -1);
    CHECK_EQ_STR(err, "auth.mode = jwt needs auth.jwt_secret_file or auth.jwt_public_key_file");
    CHECK_EQ_INT(init_with("", path_bad_pem), -1);
    CHECK(strstr(err, "no PEM public key") != NULL);
    CHECK_EQ_INT(init_with("", path_secret), -1);
    CHECK(strstr(err, "no PEM public key") != NULL);
    CHECK_EQ_INT(init_with("", path_rsa_priv), -1); /* private key: wrong file */
    CHECK(strstr(err, "no PEM public key") != NULL);
    CHECK_EQ_INT(init_with(path_empty, ""), -1);
    CHECK(strstr(err, "is empty") != NULL);
    CHECK_EQ_INT(init_with(path_secret, path_rsa_pub), -1);
    CHECK(strstr(err, "exclusive") != NULL);

    /* A failed reload keeps the keys that worked. */
    CHECK_EQ_INT(init_with(path_secret, ""), 0);
    CHECK_EQ_INT(init_with("/nonexistent/ragws-secret", ""), -1);
    char *t = hs256("alice", NO_TIME, NO_TIME);
    CHECK_EQ_INT(verify(t), 0);
    free(t);
}

static void test_error_json(void)
{
    char *s = gateway_auth_error("token expired");
    CHECK_EQ_STR(s, "{\"type\":\"auth_error\",\"data\":{\"code\":\"INVALID_TOKEN\","
                    "\"message\":\"Authentication failed: token expired\","
                    "\"action\":\"reconnect_with_valid_token\"}}");
    free(s);
    s = gateway_auth_error("quote \" here");
    CHECK(s && strstr(s, "quote \\\" here") != NULL);
    free(s);
}

int main(void)
{
    setup();
    RUN(test_hs256_valid);
    RUN(test_expired);
    RUN(test_nbf_future);
    RUN(test_wrong_secret);
    RUN(test_alg_none);
    RUN(test_alg_confusion);
    RUN(test_rs256_valid);
    RUN(test_algorithms_listed);
    RUN(test_leeway_setting);
    RUN(test_es256_valid);
    RUN(test_tampered_payload);
    RUN(test_garbage);
    RUN(test_empty);
    RUN(test_too_long);
    RUN(test_mode_off);
    RUN(test_extract_header);
    RUN(test_extract_query);
    RUN(test_extract_protocol);
    RUN(test_extract_precedence);
    RUN(test_path_protected);
    RUN(test_init_errors);
    RUN(test_error_json);
    auth_shutdown();
    teardown();
    return UNIT_SUMMARY();
}
