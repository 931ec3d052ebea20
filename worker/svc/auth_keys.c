#include "worker/svc/auth_keys.h"

#include "base/err.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Key files are small; anything bigger is a wrong path. */
#define AUTH_KEY_FILE_MAX (64 * 1024)

void auth_keys_free(auth_keys_t *k)
{
    if (k->key) {
        OPENSSL_cleanse(k->key, k->key_len); /* secrets leave no copy behind */
        free(k->key);
    }
    memset(k, 0, sizeof *k);
}

/* Whole file into a malloc'd buffer (NUL added, not counted). */
static int read_key_file(const char *key, const char *path, unsigned char **out, size_t *outlen,
                         char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, errlen, "auth.%s: cannot read %s: %s", key, path, strerror(errno));
    unsigned char *buf = malloc(AUTH_KEY_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        return err_set(err, errlen, "auth.%s: out of memory", key);
    }
    size_t n = fread(buf, 1, AUTH_KEY_FILE_MAX + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return err_set(err, errlen, "auth.%s: cannot read %s", key, path);
    }
    if (n > AUTH_KEY_FILE_MAX) {
        free(buf);
        return err_set(err, errlen, "auth.%s: %s is over %d bytes; not a key file", key, path,
                       AUTH_KEY_FILE_MAX);
    }
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return 0;
}

static int load_secret(auth_keys_t *st, const char *path, char *err, size_t errlen)
{
    if (read_key_file("jwt_secret_file", path, &st->key, &st->key_len, err, errlen) != 0) return -1;
    /* The trailing newline an editor or `echo` adds is not part of the
     * secret (ragws.conf documents this); other bytes are kept as they are. */
    while (st->key_len && (st->key[st->key_len - 1] == '\n' || st->key[st->key_len - 1] == '\r'))
        st->key[--st->key_len] = '\0';
    if (st->key_len == 0) return err_set(err, errlen, "auth.jwt_secret_file: %s is empty", path);
    st->kind = KEY_SECRET;
    return 0;
}

static int load_public_key(auth_keys_t *st, const char *path, char *err, size_t errlen)
{
    if (read_key_file("jwt_public_key_file", path, &st->key, &st->key_len, err, errlen) != 0)
        return -1;
    /* Parse it the way libjwt will on every verify, so a bad file fails
     * here at startup instead of as "bad signature" for every client. */
    BIO *bio = BIO_new_mem_buf(st->key, (int)st->key_len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!pkey)
        return err_set(err, errlen,
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
            rc = err_set(err, errlen,
                         "auth.jwt_public_key_file: %s: EC curve %s not supported "
                         "(P-256 for ES256, P-384 for ES384)",
                         path, group[0] ? group : "(unknown)");
    } else {
        rc = err_set(err, errlen,
                     "auth.jwt_public_key_file: %s: key type %s not supported "
                     "(RSA or EC P-256/P-384)",
                     path, OBJ_nid2sn(id));
    }
    EVP_PKEY_free(pkey);
    return rc;
}

/* The algorithms the key can verify, and the default when none is listed:
 * one algorithm, the one the key type names first. */
static int choose_algorithms(auth_keys_t *st, uint32_t listed, char *err, size_t errlen)
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
        return err_set(err, errlen, "auth.algorithms: %s cannot be verified with %s",
                       config_alg_name(bit), what);
    }
    st->algs = listed ? listed : def;
    return 0;
}

int auth_keys_load(auth_keys_t *k, const ragws_config_t *cfg, char *err, size_t errlen)
{
    memset(k, 0, sizeof *k);
    int has_secret = cfg->jwt_secret_file[0] != '\0';
    int has_pub = cfg->jwt_public_key_file[0] != '\0';
    if (!has_secret && !has_pub)
        return err_set(err, errlen,
                       "auth.mode = jwt needs auth.jwt_secret_file or "
                       "auth.jwt_public_key_file");
    /* With both, an HS256 token could pass on the secret although the
     * operator meant asymmetric keys only: make them choose. */
    if (has_secret && has_pub)
        return err_set(err, errlen,
                       "auth.jwt_secret_file and auth.jwt_public_key_file "
                       "are exclusive: set one");
    int rc = has_secret ? load_secret(k, cfg->jwt_secret_file, err, errlen)
                        : load_public_key(k, cfg->jwt_public_key_file, err, errlen);
    if (rc == 0) rc = choose_algorithms(k, cfg->auth_alg_mask, err, errlen);
    if (rc != 0) auth_keys_free(k);
    return rc;
}
