/* Helpers for the protocol/ unit tests: parse what an encoder produced
 * (strictly: duplicate keys refused) and read its fields by a dotted path
 * ("data.details.stage"; a number selects an array element). The texts
 * below exercise escaping: French accents, emoji and other 4-byte
 * characters, control characters, quotes and backslashes. */
#ifndef RAGWS_TESTS_UNIT_PROTOCOL_JSON_CHECK_H
#define RAGWS_TESTS_UNIT_PROTOCOL_JSON_CHECK_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

/* Accents (2 bytes), a typographic apostrophe and the euro sign (3). */
#define T_FR "Élève à l’école : ça coûte 5 €"
/* Emoji and a musical symbol (4 bytes each). */
#define T_EMOJI "fusée 🚀, clé 🔑, clef 𝄞"
/* Everything JSON must escape, and what it must not (/, DEL). */
#define T_TRICKY      "q \" b \\ s / t \t n \n r \r bell \x07 esc \x1b del \x7f"
#define T_TRICKY_JSON "\"q \\\" b \\\\ s / t \\t n \\n r \\r bell \\u0007 esc \\u001B del \x7f\""
/* Not UTF-8: encoders replace each bad byte by '?'. */
#define T_BAD      "ok \xff\xfe end \xc3"
#define T_BAD_JSON "\"ok ?? end ?\""

static inline json_t *jparse(const char *s)
{
    return s ? json_loads(s, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL) : NULL;
}

static inline json_t *jget(json_t *v, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *p = strtok_r(buf, ".", &save); p && v; p = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(p)) : json_object_get(v, p);
    return v;
}

static inline const char *jstr(json_t *v, const char *path)
{
    return json_string_value(jget(v, path));
}

static inline long long jint(json_t *v, const char *path)
{
    return (long long)json_integer_value(jget(v, path));
}

static inline double jnum(json_t *v, const char *path) { return json_number_value(jget(v, path)); }

static inline size_t jsize(json_t *v, const char *path)
{
    json_t *o = path ? jget(v, path) : v;
    return json_is_object(o) ? json_object_size(o) : json_array_size(o);
}

/* The whole message is valid UTF-8, compact, and parses back. */
static inline int jwire_ok(const char *s)
{
    if (!s || !utf8_valid(s, strlen(s), NULL)) return 0;
    json_t *v = jparse(s);
    int ok = v != NULL;
    char *again =
        v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10)) : NULL;
    ok = ok && again && strcmp(again, s) == 0; /* same bytes: compact, no reordering */
    free(again);
    json_decref(v);
    return ok;
}

/* Does s hold sub (as bytes)? */
static inline int has(const char *s, const char *sub) { return s && sub && strstr(s, sub); }

#endif
