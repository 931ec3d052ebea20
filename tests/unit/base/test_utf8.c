/* Unit tests for util/utf8.c: validation, boundary-cut prefixes, scrubbing
 * and utf8_snprintf, at every cut of texts with 2-, 3- and 4-byte
 * characters; and json_msg_text / json_msg_dump, which rely on them. */
#include "tests/unit/unit.h"
#include "base/utf8.h"
#include "protocol/json_msg.h"

#include <stdlib.h>

static const char MIXED[] = "aé€𝄞😀b"; /* 1 + 2 + 3 + 4 + 4 + 1 bytes */

static void test_valid(void)
{
    size_t bad = 99;
    CHECK(utf8_valid("", 0, NULL));
    CHECK(utf8_valid(MIXED, strlen(MIXED), &bad));
    CHECK(utf8_valid("a\0b", 3, NULL)); /* U+0000 is a character */
    CHECK(!utf8_valid("ab\xC3", 3, &bad));
    CHECK_EQ_INT(bad, 2);
    CHECK(!utf8_valid("\xED\xA0\x80", 3, &bad)); /* surrogate U+D800 */
    CHECK(!utf8_valid("\xC0\xAF", 2, &bad));     /* overlong '/' */
    CHECK(!utf8_valid("\xF4\x90\x80\x80", 4, &bad));
    CHECK(!utf8_valid("x\xBFy", 3, &bad));
    CHECK_EQ_INT(bad, 1);
}

/* Every cut of MIXED: the prefix is valid, at most max, and maximal. */
static void test_prefix_every_cut(void)
{
    size_t n = strlen(MIXED);
    static const size_t bounds[] = {0, 1, 3, 6, 10, 14, 15};
    for (size_t max = 0; max <= n + 2; max++) {
        size_t k = utf8_prefix(MIXED, n, max);
        size_t want = 0;
        for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++)
            if (bounds[i] <= max) want = bounds[i];
        CHECK_EQ_INT(k, want);
        CHECK(utf8_valid(MIXED, k, NULL));
    }
    /* the crash of issue 7: "a" + "é"*40 quoted at 64 bytes */
    char t[128] = "a";
    for (int i = 0; i < 40; i++) strcat(t, "é");
    CHECK_EQ_INT(utf8_prefix(t, strlen(t), 64), 63);
    /* an invalid byte counts as one character */
    CHECK_EQ_INT(utf8_prefix("\xFF\xFF\xFF", 3, 2), 2);
}

static void test_scrub(void)
{
    char s[] = "ok\xC3 \xED\xA0\x80 é \xF0\x9F\x98";
    size_t n = strlen(s);
    CHECK_EQ_INT(utf8_scrub(s, n), 7);
    CHECK_EQ_STR(s, "ok? ??? é ???");
    CHECK(utf8_valid(s, n, NULL));
    char v[] = "déjà vu";
    CHECK_EQ_INT(utf8_scrub(v, strlen(v)), 0);
    CHECK_EQ_STR(v, "déjà vu");
}

/* Truncation inside a character cuts back to its start, never leaves a
 * partial sequence; invalid argument bytes are scrubbed. */
static void test_snprintf(void)
{
    char buf[64];
    for (size_t cap = 1; cap <= strlen(MIXED) + 4; cap++) {
        size_t w = utf8_snprintf(buf, cap, "%s", MIXED);
        CHECK(w < cap);
        CHECK_EQ_INT(strlen(buf), w);
        CHECK(utf8_valid(buf, w, NULL));
        CHECK_EQ_INT(w, utf8_prefix(MIXED, strlen(MIXED), cap - 1));
        CHECK(memcmp(buf, MIXED, w) == 0);
    }
    CHECK_EQ_INT(utf8_snprintf(buf, sizeof buf, "[%s]", "a\xC3"), 4);
    CHECK_EQ_STR(buf, "[a?]");
    CHECK_EQ_INT(utf8_snprintf(buf, sizeof buf, "%d é", 42), 5);
    CHECK_EQ_STR(buf, "42 é");
    /* QUOTE: the client's text, cut at QUOTE_MAX on a boundary */
    char t[300] = "a";
    for (int i = 0; i < 120; i++) strcat(t, "é");
    char big[128];
    utf8_snprintf(big, sizeof big, "x%.*sy", QUOTE(t));
    CHECK(utf8_valid(big, strlen(big), NULL));
    CHECK_EQ_INT(strlen(big), 1 + 63 + 1);
}

static void test_json_text_and_dump(void)
{
    json_t *j = json_msg_text("caf\xC3");
    char *s = json_msg_dump(j);
    CHECK_EQ_STR(s, "\"caf?\"");
    free(s);
    json_decref(j);
    j = json_msg_text("Qu'est-ce que l'élève a répondu ? 𝄞😀");
    s = json_msg_dump(j);
    CHECK_EQ_STR(s, "\"Qu'est-ce que l'élève a répondu ? 𝄞😀\"");
    free(s);
    json_decref(j);
    /* reals go out with 10 significant digits, not 17 */
    j = json_pack("{s:f, s:f, s:f}", "progress", 0.1, "t", 0.3, "big", 1234.5);
    s = json_msg_dump(j);
    CHECK_EQ_STR(s, "{\"progress\":0.1,\"t\":0.3,\"big\":1234.5}");
    free(s);
    json_decref(j);
    /* a failed encode is NULL, never an abort */
    CHECK(json_msg_dump(NULL) == NULL);
    CHECK(json_msg_dump_free(NULL) == NULL);
}

static void test_one_line(void)
{
    char b[64];
    text_one_line(b, sizeof b, "connection failed: refused\n\tIs the server running?\n");
    CHECK_EQ_STR(b, "connection failed: refused; Is the server running?");
    text_one_line(b, sizeof b, "  a   b\r\n");
    CHECK_EQ_STR(b, "a b");
    text_one_line(b, sizeof b, NULL);
    CHECK_EQ_STR(b, "");
    char s[8];
    text_one_line(s, sizeof s, "abcdefghij");
    CHECK_EQ_STR(s, "abcdefg");
}

int main(void)
{
    RUN(test_one_line);
    RUN(test_valid);
    RUN(test_prefix_every_cut);
    RUN(test_scrub);
    RUN(test_snprintf);
    RUN(test_json_text_and_dump);
    return UNIT_SUMMARY();
}
