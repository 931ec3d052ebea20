/* Shared helpers for the JSON protocols: parsing a client message with a
 * precise error ("invalid JSON at line 1, column 9: ..."), the S4.0 error
 * codes, channel-name validation, and the wire encoding.
 *
 * Encoding never aborts: json_msg_dump returns NULL when a value cannot be
 * encoded, and every encoder of protocol/ passes that NULL on (error
 * encoders first fall back to a fixed, valid error). Texts from outside
 * (client input, LLM output, PostgreSQL errors) go through json_msg_text,
 * which always yields valid UTF-8, and quoted client text is cut with
 * util/utf8.h so that a cut never falls inside a character. Every error
 * text written by these decoders is valid UTF-8. */
#ifndef RAGWS_PROTOCOL_JSON_MSG_H
#define RAGWS_PROTOCOL_JSON_MSG_H

#include <jansson.h>
#include <stddef.h>
#include <string.h>

#include "base/utf8.h"

#define ERR_INVALID_JSON "INVALID_JSON"
#define ERR_VALIDATION   "VALIDATION_ERROR"
#define ERR_UNKNOWN_TYPE "UNKNOWN_TYPE"
#define ERR_RATE_LIMITED "RATE_LIMITED"
#define ERR_INTERNAL     "INTERNAL_ERROR"

/* How many bytes of a client's text an error message quotes, and the
 * printf arguments that quote s that way: utf8_snprintf(.., "\"%.*s\"",
 * QUOTE(s)) -- cut on a character boundary, never inside one. */
#define QUOTE_MAX 64
#define QUOTE(s)  (int)utf8_prefix((s), strlen(s), QUOTE_MAX), (s)

#define CHANNEL_MAX_LEN 64

/* Parse a client message that must be a JSON object. On failure returns
 * NULL, sets *code to ERR_INVALID_JSON or ERR_VALIDATION and writes what is
 * wrong and where into err. */
json_t *json_msg_parse(const char *data, size_t len, const char **code, char *err, size_t errlen);

/* The message's "type" string, or NULL (err says why). */
const char *json_msg_type(json_t *msg, char *err, size_t errlen);

/* 1..max characters, each a letter, a digit or one of punct. */
int name_valid(const char *s, size_t len, size_t max, const char *punct);

/* Channel names: 1..64 of [A-Za-z0-9_.:-]. */
int channel_name_valid(const char *s, size_t len);

/* json_dumps for the wire: compact, reals with at most 10 significant
 * digits (0.1, not 0.10000000000000001). NULL when v is NULL or cannot be
 * encoded (out of memory, a member that is not valid UTF-8); never aborts. */
#define JSON_MSG_WIRE_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10))
char *json_msg_dump(const json_t *v);

/* A JSON string of s (NULL: "") that is always valid UTF-8: bytes that are
 * not are replaced by '?'. NULL only when out of memory. */
json_t *json_msg_text(const char *s);
json_t *json_msg_textn(const char *s, size_t len);

/* Encode and release o (may be NULL); NULL when it cannot be encoded. */
char *json_msg_dump_free(json_t *o);

#endif
