/* JWT key material (part of worker/svc/auth): reading the secret or the
 * PEM public key named by the configuration, its kind, and the algorithms
 * it may verify (auth.algorithms, or the key's default). auth.c owns the
 * one auth_keys_t of the process; auth_keys_load fills a fresh one and
 * auth_keys_free wipes and frees it (secrets leave no copy behind). */
#ifndef RAGWS_WORKER_SVC_AUTH_KEYS_H
#define RAGWS_WORKER_SVC_AUTH_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

enum key_kind { KEY_NONE = 0, KEY_SECRET, KEY_RSA, KEY_EC256, KEY_EC384 };

typedef struct auth_keys {
    enum key_kind kind;
    unsigned char *key; /* secret bytes or PEM text, as libjwt wants it */
    size_t key_len;
    uint32_t algs; /* CONFIG_ALG_* bits accepted */
} auth_keys_t;

/* For auth.mode = jwt: exactly one of auth.jwt_secret_file and
 * auth.jwt_public_key_file, loaded and checked, and auth.algorithms
 * against it. 0, or -1 with a message in err (k left empty). */
int auth_keys_load(auth_keys_t *k, const ragws_config_t *cfg, char *err, size_t errlen);
void auth_keys_free(auth_keys_t *k);

#endif
