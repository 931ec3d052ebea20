/* UTF-8 for text quoted in messages. Every message a client receives is
 * JSON, and a JSON encoder refuses a string that is not valid UTF-8; so a
 * message that quotes client text (or any text from outside: LLM output,
 * PostgreSQL errors) must cut it on a character boundary and must never
 * carry an invalid byte.
 *
 * Contract:
 * - utf8_valid: 1 when s[0..len) is strict UTF-8 (RFC 3629: no overlong
 *   form, no surrogate U+D800..U+DFFF, nothing above U+10FFFF; U+0000 is
 *   valid), the rule jansson applies; else 0 and *bad (may be NULL) is the
 *   offset where the first invalid sequence starts.
 * - utf8_prefix: the length of the longest prefix of s[0..len) of at most
 *   max bytes that does not end inside a character. A valid s gives a valid
 *   prefix; an invalid byte counts as one character of one byte.
 * - utf8_scrub: replaces in place each byte that does not belong to a valid
 *   sequence by '?', so that s[0..len) becomes valid with the same length;
 *   returns how many bytes were replaced.
 * - utf8_snprintf: snprintf into buf (cap > 0), then the result is made
 *   valid: when the output was truncated it is cut back to a character
 *   boundary, and invalid bytes are scrubbed. Returns the length written
 *   (not the length the output would have had). Never fails. */
#ifndef RAGWS_UTIL_UTF8_H
#define RAGWS_UTIL_UTF8_H

#include <stddef.h>

int utf8_valid(const char *s, size_t len, size_t *bad);
size_t utf8_prefix(const char *s, size_t len, size_t max);
size_t utf8_scrub(char *s, size_t len);
size_t utf8_snprintf(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Folds a multi-line text (libpq's errors: "...failed: ...\n\tIs the server
 * running...?\n") into dst on one line: a line break becomes "; ", other
 * whitespace runs one space, edges trimmed. NULL is "". */
void text_one_line(char *dst, size_t dstlen, const char *msg);

#endif
