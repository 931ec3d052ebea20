/* Shared helpers for the JSON protocols: parsing a client message with a
 * precise error ("invalid JSON at line 1, column 9: ..."), the S4.0 error
 * codes, and channel-name validation. */
#ifndef RAGWS_PROTOCOL_JSON_MSG_H
#define RAGWS_PROTOCOL_JSON_MSG_H

#include <jansson.h>
#include <stddef.h>

#define ERR_INVALID_JSON "INVALID_JSON"
#define ERR_VALIDATION "VALIDATION_ERROR"
#define ERR_UNKNOWN_TYPE "UNKNOWN_TYPE"
#define ERR_RATE_LIMITED "RATE_LIMITED"

#define CHANNEL_MAX_LEN 64

/* Parse a client message that must be a JSON object. On failure returns
 * NULL, sets *code to ERR_INVALID_JSON or ERR_VALIDATION and writes what is
 * wrong and where into err. */
json_t *json_msg_parse(const char *data, size_t len, const char **code,
                       char *err, size_t errlen);

/* The message's "type" string, or NULL (err says why). */
const char *json_msg_type(json_t *msg, char *err, size_t errlen);

/* 1..max characters, each a letter, a digit or one of punct. */
int name_valid(const char *s, size_t len, size_t max, const char *punct);

/* Channel names: 1..64 of [A-Za-z0-9_.:-]. */
int channel_name_valid(const char *s, size_t len);

/* json_dumps(..., JSON_COMPACT) that never returns NULL for a valid value
 * (aborts on out-of-memory, where nothing sensible remains to do). */
char *json_msg_dump(const json_t *v);

#endif
