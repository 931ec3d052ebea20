#include "base/chunk.h"

#include <stdint.h>
#include <string.h>

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Next / previous character boundary (invalid bytes count as one each). */
static size_t next_char(const unsigned char *s, size_t len, size_t i)
{
    i++;
    while (i < len && is_cont(s[i])) i++;
    return i;
}

static size_t prev_char(const unsigned char *s, size_t i)
{
    if (i == 0) return 0;
    i--;
    while (i > 0 && is_cont(s[i])) i--;
    return i;
}

static size_t skip_space(const unsigned char *s, size_t len, size_t i)
{
    while (i < len && is_space(s[i])) i++;
    return i;
}

/* Does the text just before q (q = start of a whitespace run) end a
 * sentence? Allows closing quotes and brackets after the punctuation. */
static int ends_sentence(const unsigned char *s, size_t from, size_t q)
{
    while (q > from && (s[q - 1] == '"' || s[q - 1] == '\'' || s[q - 1] == ')' || s[q - 1] == ']'))
        q--;
    return q > from && (s[q - 1] == '.' || s[q - 1] == '!' || s[q - 1] == '?');
}

/* Where to end a chunk that starts at `from` and may not go past `hi`:
 * the last good cut at or after `lo` (both character boundaries). Cuts
 * are at the start of a whitespace run, so they never split a character. */
static size_t find_cut(const unsigned char *s, size_t len, size_t from, size_t lo, size_t hi)
{
    size_t sentence = 0, space = 0;
    for (size_t q = hi + 1; q-- > lo;) {
        if (q >= len || !is_space(s[q]) || (q > 0 && is_space(s[q - 1]))) continue;
        /* q starts a whitespace run: a blank line or a form feed in it is
         * a paragraph break, the best cut there is. */
        int newlines = 0, para = 0;
        for (size_t r = q; r < len && is_space(s[r]); r++) {
            if (s[r] == '\f' || (s[r] == '\n' && ++newlines == 2)) {
                para = 1;
                break;
            }
        }
        if (para) return q;
        if (!sentence && ends_sentence(s, from, q)) sentence = q;
        if (!space) space = q;
    }
    if (sentence) return sentence;
    if (space) return space;
    return hi;
}

size_t chunk_text(const char *text, size_t len, size_t target, size_t overlap, chunk_span_t *out,
                  size_t max)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = 0, prev_end = 0;
    if (target == 0) target = 1;

    size_t start = skip_space(s, len, 0);
    while (start < len) {
        /* hi: `target` characters on; lo: half way, where cuts may start. */
        size_t hi = start, lo = start, chars = 0;
        while (hi < len && chars < target) {
            hi = next_char(s, len, hi);
            if (++chars == (target + 1) / 2) lo = hi;
        }
        size_t end = len;
        /* A form feed is a page break: it always ends the chunk, and the
         * next chunk starts after it, so every chunk lies on one page. */
        const unsigned char *ff = memchr(s + start, '\f', hi - start);
        if (ff) {
            end = (size_t)(ff - s);
        } else if (hi < len) {
            /* Never end where the previous chunk ended: each chunk must
             * add text, or a large overlap would repeat the same chunk. */
            if (n > 0 && lo <= prev_end) lo = prev_end + 1;
            end = lo <= hi ? find_cut(s, len, start, lo, hi) : hi;
        }
        size_t e = end;
        while (e > start && is_space(s[e - 1])) e--;
        if (n > 0 && e <= prev_end) {
            /* Nothing but whitespace after the previous chunk's end (a
             * long blank stretch, or the overlap ran into a page break):
             * no new chunk, carry on after it. */
            start = skip_space(s, len, end);
            continue;
        }
        if (n < max) {
            out[n].start = start;
            out[n].len = e - start;
        }
        n++;
        prev_end = e;
        if (skip_space(s, len, end) >= len) break;
        if (ff) {
            start = skip_space(s, len, end);
            continue;
        }

        /* The next chunk starts `overlap` characters before this one's end
         * (at most half of this chunk, so the start always moves on), at
         * the next word boundary. */
        size_t nchars = 0;
        for (size_t i = start; i < e; i = next_char(s, len, i)) nchars++;
        size_t back = overlap < nchars / 2 ? overlap : nchars / 2;
        size_t p = e;
        for (size_t k = 0; k < back; k++) p = prev_char(s, p);
        if (p > start && !is_space(s[p - 1])) {
            size_t w = p;
            while (w < e && !is_space(s[w])) w++;
            if (w < e) p = w; /* else the overlap is one long word: cut it */
        }
        start = skip_space(s, len, p);
    }
    return n;
}
