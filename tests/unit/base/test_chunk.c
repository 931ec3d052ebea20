/* Unit tests for the ingestion chunker and the UTF-8 check
 * (master/db_admin.c). Pure functions: no database needed. */
#include "tests/unit/unit.h"
#include "base/chunk.h"
#include "base/utf8.h"

#include <stdlib.h>

#define MAXS 4096
static chunk_span_t sp[MAXS];

static size_t chars_in(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

static int space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int cont(char c) { return ((unsigned char)c & 0xC0) == 0x80; }

/* Invariants that hold for any input; prints the first one broken. */
static int spans_ok(const char *t, size_t len, size_t target, const chunk_span_t *s, size_t n)
{
    size_t covered = 0;
    for (size_t i = 0; i < n; i++) {
        size_t a = s[i].start, e = s[i].start + s[i].len;
        const char *why = NULL;
        if (s[i].len == 0 || e > len)
            why = "empty or out of bounds";
        else if (cont(t[a]) || (e < len && cont(t[e])))
            why = "starts or ends inside a UTF-8 sequence";
        else if (space(t[a]) || space(t[e - 1]))
            why = "not trimmed";
        else if (chars_in(t + a, s[i].len) > target)
            why = "longer than target";
        else if (i > 0 && (a <= s[i - 1].start || e <= s[i - 1].start + s[i - 1].len))
            why = "does not move forward";
        for (size_t k = covered; !why && k < a; k++)
            if (!space(t[k])) why = "leaves text before it uncovered";
        if (why) {
            fprintf(stderr, "  span %zu [%zu,%zu) of %zu: %s\n", i, a, e, n, why);
            return 0;
        }
        if (e > covered) covered = e;
    }
    for (size_t k = covered; k < len; k++)
        if (!space(t[k])) {
            fprintf(stderr, "  text after the last span uncovered at %zu\n", k);
            return 0;
        }
    return 1;
}

static size_t run(const char *t, size_t target, size_t overlap)
{
    size_t n = chunk_text(t, strlen(t), target, overlap, sp, MAXS);
    CHECK(n <= MAXS);
    CHECK(spans_ok(t, strlen(t), target, sp, n));
    return n;
}

static int span_is(const char *t, size_t i, const char *want)
{
    return sp[i].len == strlen(want) && memcmp(t + sp[i].start, want, sp[i].len) == 0;
}

static void test_blank_text_has_no_chunk(void)
{
    CHECK_EQ_INT(chunk_text("", 0, 100, 10, sp, MAXS), 0);
    CHECK_EQ_INT(chunk_text(" \n\t\f\r\n  ", 8, 100, 10, sp, MAXS), 0);
    CHECK_EQ_INT(chunk_text(NULL, 0, 100, 10, NULL, 0), 0);
}

static void test_short_text_is_one_trimmed_chunk(void)
{
    const char *t = "\n\n  Hello, world.  \n";
    CHECK_EQ_INT(run(t, 100, 20), 1);
    CHECK(span_is(t, 0, "Hello, world."));
}

static void test_prefers_paragraph_break(void)
{
    /* The second paragraph would fit partly; the cut goes at the blank line
     * even though a sentence ends later inside the window. */
    const char *t = "First paragraph has some words. It ends here.\n\n"
                    "Second paragraph. It is long enough to need a cut somewhere later on.";
    size_t n = run(t, 80, 0);
    CHECK(n >= 2);
    CHECK(span_is(t, 0, "First paragraph has some words. It ends here."));
}

static void test_form_feed_ends_chunk_without_overlap(void)
{
    /* Even early in the window, and with overlap: the next chunk starts on
     * the new page. */
    const char *f = "Page one.\fPage two. More words follow here. And more words.";
    size_t n = run(f, 40, 20);
    CHECK(n >= 2);
    CHECK(span_is(f, 0, "Page one."));
    CHECK_EQ_INT(sp[1].start, 10);
    const char *g = "\f\fOnly page three has text.\f";
    CHECK_EQ_INT(run(g, 40, 20), 1);
    CHECK(span_is(g, 0, "Only page three has text."));
}

static void test_prefers_sentence_end(void)
{
    const char *t = "Alpha beta gamma delta. Epsilon zeta eta theta iota kappa lambda mu nu xi "
                    "omicron pi rho sigma tau upsilon.";
    size_t n = run(t, 40, 0);
    CHECK(n >= 2);
    CHECK(span_is(t, 0, "Alpha beta gamma delta."));
    /* Closing quotes after the full stop stay with the sentence. */
    const char *q = "He said \"stop here.\" Then the text continues with many more words";
    n = run(q, 40, 0);
    CHECK(n >= 2);
    CHECK(span_is(q, 0, "He said \"stop here.\""));
}

static void test_falls_back_to_whitespace(void)
{
    const char *t = "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll";
    size_t n = run(t, 22, 0);
    CHECK(n >= 2);
    for (size_t i = 0; i + 1 < n; i++) {
        size_t e = sp[i].start + sp[i].len;
        CHECK(t[e] == ' '); /* whole words only */
    }
    CHECK(span_is(t, 0, "aaaa bbbb cccc dddd"));
}

static void test_hard_cut_respects_utf8(void)
{
    /* 250 two-byte characters, no whitespace: cut every 100 characters. */
    char t[600];
    size_t o = 0;
    for (int i = 0; i < 250; i++) {
        t[o++] = (char)0xC3;
        t[o++] = (char)0xA9; /* é */
    }
    t[o] = '\0';
    CHECK_EQ_INT(run(t, 100, 0), 3);
    CHECK_EQ_INT(sp[0].len, 200);
    CHECK_EQ_INT(sp[1].start, 200);
    CHECK_EQ_INT(sp[2].len, 100);
    /* Three- and four-byte characters mixed. */
    const char *m = "€€€€€€€€€€𝄞𝄞𝄞𝄞𝄞𝄞𝄞𝄞€€€€€€𝄞𝄞𝄞𝄞𝄞𝄞𝄞𝄞𝄞€€€€€€€€€€";
    size_t n = run(m, 7, 3);
    CHECK(n >= 6);
}

static void test_overlap_shares_about_overlap_chars(void)
{
    char t[8192];
    size_t o = 0;
    const char *words[] = {"retrieval", "augmented", "generation", "with", "a",
                           "gateway",   "workers",   "share",      "the",  "ring"};
    for (int i = 0; o < 6000; i++)
        o += (size_t)snprintf(t + o, sizeof t - o, "%s ", words[(i * 7) % 10]);
    t[o] = '\0';
    size_t n = run(t, 300, 60);
    CHECK(n >= 20);
    for (size_t i = 0; i + 1 < n; i++) {
        size_t prev_end = sp[i].start + sp[i].len;
        CHECK(sp[i + 1].start < prev_end);
        size_t shared = prev_end - sp[i + 1].start; /* ASCII: bytes = chars */
        CHECK(shared >= 60 - 11 && shared <= 60);   /* within one word of 60 */
        CHECK(sp[i].len >= 150);                    /* cuts are in the second half */
    }
    /* Without overlap chunks tile the text. */
    n = run(t, 300, 0);
    for (size_t i = 0; i + 1 < n; i++) CHECK(sp[i + 1].start > sp[i].start + sp[i].len);
}

static void test_huge_overlap_still_progresses(void)
{
    const char *t = "one two three four five six seven eight nine ten eleven twelve thirteen "
                    "fourteen fifteen sixteen seventeen eighteen nineteen twenty";
    size_t n = run(t, 20, 1000);
    CHECK(n > 1 && n < 60);
    n = run(t, 1, 1);
    CHECK_EQ_INT(n, chars_in(t, strlen(t)) - 19); /* one per non-blank character */
}

static void test_count_like_snprintf(void)
{
    const char *t = "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll";
    size_t all = chunk_text(t, strlen(t), 10, 0, NULL, 0);
    CHECK(all >= 4);
    chunk_span_t two[3];
    two[2].start = 12345;
    CHECK_EQ_INT(chunk_text(t, strlen(t), 10, 0, two, 2), all);
    CHECK_EQ_INT(two[2].start, 12345); /* nothing written past max */
    CHECK_EQ_INT(two[0].start, 0);
}

/* Random texts from pieces that exercise every kind of cut. */
static void test_random_texts_keep_invariants(void)
{
    static const char *pieces[] = {"word", "longerword", " ",  " ",    "  ",           "\n",
                                   "\n\n", ". ",         "! ", "? ",   "\f",           "é",
                                   "€uro", "𝄞",          "\t", "\r\n", "\"quoted.\" ", "x"};
    const size_t np = sizeof pieces / sizeof pieces[0];
    static char t[20000];
    srand(42);
    int bad = 0;
    for (int iter = 0; iter < 400 && !bad; iter++) {
        size_t o = 0, want = (size_t)(rand() % 5000);
        while (o < want) {
            const char *p = pieces[rand() % np];
            size_t l = strlen(p);
            memcpy(t + o, p, l);
            o += l;
        }
        t[o] = '\0';
        size_t target = 1 + (size_t)(rand() % 400);
        size_t overlap = (size_t)(rand() % 500);
        size_t n = chunk_text(t, o, target, overlap, sp, MAXS);
        if (n > MAXS || !spans_ok(t, o, target, sp, n)) {
            fprintf(stderr, "  iteration %d: len %zu target %zu overlap %zu n %zu\n", iter, o,
                    target, overlap, n);
            bad = 1;
        }
    }
    CHECK(!bad);
}

static void test_utf8_validation(void)
{
    size_t bad = 99;
    CHECK(utf8_valid("", 0, &bad));
    CHECK(utf8_valid("plain ascii", 11, &bad));
    CHECK(utf8_valid("é€𝄞\xF4\x8F\xBF\xBF", 13, &bad)); /* up to U+10FFFF */
    CHECK(!utf8_valid("ab\xC3", 3, &bad));              /* truncated */
    CHECK_EQ_INT(bad, 2);
    CHECK(!utf8_valid("\xC0\x80", 2, &bad)); /* overlong NUL */
    CHECK_EQ_INT(bad, 0);
    CHECK(!utf8_valid("a\xE0\x80\x80", 4, &bad)); /* overlong */
    CHECK_EQ_INT(bad, 1);
    CHECK(!utf8_valid("\xED\xA0\x80", 3, &bad));     /* surrogate */
    CHECK(!utf8_valid("\xF4\x90\x80\x80", 4, &bad)); /* above U+10FFFF */
    CHECK(!utf8_valid("ok\x80", 3, &bad));           /* stray continuation */
    CHECK_EQ_INT(bad, 2);
    CHECK(!utf8_valid("\xE2\x82x", 3, &bad)); /* bad third byte */
    CHECK(!utf8_valid("\xFF", 1, NULL));
}

int main(void)
{
    RUN(test_blank_text_has_no_chunk);
    RUN(test_short_text_is_one_trimmed_chunk);
    RUN(test_prefers_paragraph_break);
    RUN(test_form_feed_ends_chunk_without_overlap);
    RUN(test_prefers_sentence_end);
    RUN(test_falls_back_to_whitespace);
    RUN(test_hard_cut_respects_utf8);
    RUN(test_overlap_shares_about_overlap_chars);
    RUN(test_huge_overlap_still_progresses);
    RUN(test_count_like_snprintf);
    RUN(test_random_texts_keep_invariants);
    RUN(test_utf8_validation);
    return UNIT_SUMMARY();
}
