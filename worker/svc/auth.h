/* JWT authentication of WebSocket and REST clients (SPEC S7, S4.6).
 *
 * auth.mode = jwt verifies compact JWS tokens with libjwt: HS256/384/512
 * with the secret in auth.jwt_secret_file, or RS256/RS384/RS512 (RSA key)
 * and ES256 (P-256) / ES384 (P-384) with the PEM public key in
 * auth.jwt_public_key_file. The two files are exclusive. auth.algorithms
 * lists the accepted algorithms (default: one, HS256 / RS256 / ES256 /
 * ES384 by key type); a token's "alg" must be in it, which is checked
 * before libjwt sees the token, because libjwt dispatches on the token's
 * own "alg" (an HS256 token would otherwise be checked with the public key
 * PEM as HMAC secret: algorithm confusion). "none" is never accepted.
 * exp and nbf are honoured with auth.leeway seconds of clock skew.
 *
 * auth.endpoints says which paths need a token (auth_path_protected);
 * whether a path takes a user token at all (public and admin routes never
 * do) is the route table's (worker/api/routes.h, which also checks the
 * list against the served paths at check-config and worker start).
 *
 * Key material is process-global: call auth_init in each process after the
 * configuration is loaded (again on reload; a failed reload keeps the
 * previous keys). Not thread-safe; workers are single-threaded processes. */
#ifndef RAGWS_WORKER_AUTH_H
#define RAGWS_WORKER_AUTH_H

#include <stddef.h>

#include "base/config.h"
#include "protocol/http_parser.h"

/* Longest token auth_verify accepts (longer: "malformed token"). */
#define AUTH_TOKEN_MAX 8192
/* Recommended size of the token and protocol_echo buffers given to
 * auth_token_from_request: one byte more than the limit plus the NUL, so a
 * token over the limit is still seen as too long rather than cut to fit. */
#define AUTH_TOKEN_BUF (AUTH_TOKEN_MAX + 2)
/* Recommended size of the sub buffer of auth_verify. */
#define AUTH_SUB_MAX 256
/* Load the key material (nothing when auth.mode = off, see auth_keys.h)
 * and check auth.algorithms against the key. Returns 0, or -1 with a
 * message in err, e.g. "auth.jwt_secret_file: cannot read ...",
 * "auth.algorithms: RS384 cannot be verified with ...". */
int auth_init(const ragws_config_t *cfg, char *err, size_t errlen);
void auth_shutdown(void);

/* Does auth.endpoints ask for a token on this path? Mode jwt, and the path
 * is listed (exact, or an item "prefix*"), or the list is empty (every
 * path). Only for paths whose route takes a user token: the caller asks
 * the route table first (routes_path_protected). */
int auth_path_protected(const char *path, size_t len);

/* The token of "Authorization: Bearer <t>" (REST takes no other carrier),
 * NUL-terminated into token; its length, 0 when there is none. */
size_t auth_bearer_token(const http_request_t *req, char *token, size_t toklen);

/* Verify a compact JWT: signature, algorithm policy, exp and nbf (with
 * auth.leeway). Returns 0 and copies the "sub" claim into sub (empty when
 * absent; a sub that does not fit is refused rather than cut), or -1 with
 * one of "missing token", "malformed token", "bad signature",
 * "token expired", "token not yet valid", "algorithm not allowed" in why.
 * sub and why may be NULL. */
int auth_verify(const char *token, size_t len, char *sub, size_t sublen, char *why, size_t whylen);

/* Token of a WebSocket upgrade request, first match wins:
 *   1. "Authorization: Bearer <t>"
 *   2. ?token=<t> (percent-decoded)
 *   3. Sec-WebSocket-Protocol: an offered value shaped like a JWT (three
 *      base64url parts, the first two starting "ey", i.e. JSON objects), or
 *      the pair "bearer, <t>" / "access_token, <t>" (marker any case).
 * Copies it NUL-terminated into token and returns its length, 0 when none.
 * A token longer than toklen - 1 is cut to toklen - 1 bytes (see
 * AUTH_TOKEN_BUF: it then still fails auth_verify as too long).
 * protocol_echo (may be NULL) receives the offered Sec-WebSocket-Protocol
 * value the 101 response must select when the token came from that header
 * (the token itself for a bare JWT, the marker as sent for the pair form),
 * else "". It stays "" when the value does not fit in echolen. */
size_t auth_token_from_request(const http_request_t *req, char *token, size_t toklen,
                               char *protocol_echo, size_t echolen);

#endif
