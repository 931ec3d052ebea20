#include "base/utf8.h"

#include <stdarg.h>
#include <stdio.h>

/* Bytes a sequence starting with lead c claims (0: c cannot start one). */
static size_t lead_len(unsigned char c)
{
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

/* Length of the valid sequence at s (n bytes available), or 0. */
static size_t seq_len(const unsigned char *s, size_t n)
{
    size_t need = lead_len(s[0]);
    if (!need || n < need) return 0;
    for (size_t i = 1; i < need; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (s[0] == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
    if (s[0] == 0xED && s[1] > 0x9F) return 0; /* surrogate */
    if (s[0] == 0xF0 && s[1] < 0x90) return 0; /* overlong */
    if (s[0] == 0xF4 && s[1] > 0x8F) return 0; /* above U+10FFFF */
    return need;
}

int utf8_valid(const char *s, size_t len, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t k = seq_len(p + i, len - i);
        if (!k) {
            if (bad) *bad = i;
            return 0;
        }
        i += k;
    }
    return 1;
}

size_t utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max) return len;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < max) {
        size_t k = seq_len(p + i, len - i);
        if (!k) k = 1;
        if (i + k > max) break;
        i += k;
    }
    return i;
}

size_t utf8_scrub(char *s, size_t len)
{
    unsigned char *p = (unsigned char *)s;
    size_t bad = 0;
    for (size_t i = 0; i < len;) {
        size_t k = seq_len(p + i, len - i);
        if (k) {
            i += k;
        } else {
            p[i++] = '?';
            bad++;
        }
    }
    return bad;
}

/* After a truncation: drop a last character that lost its tail. */
static size_t cut_partial_tail(const unsigned char *p, size_t len)
{
    size_t i = len;
    while (i > 0 && len - i < 3 && (p[i - 1] & 0xC0) == 0x80) i--;
    if (i == 0) return len;
    size_t need = lead_len(p[i - 1]);
    if (need > 1 && len - (i - 1) < need) return i - 1;
    return len;
}

size_t utf8_snprintf(char *buf, size_t cap, const char *fmt, ...)
{
    if (!cap) return 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0) {
        buf[0] = 0;
        return 0;
    }
    size_t len = (size_t)n;
    if (len >= cap) len = cut_partial_tail((const unsigned char *)buf, cap - 1);
    buf[len] = 0;
    utf8_scrub(buf, len);
    return len;
}

void text_one_line(char *dst, size_t dstlen, const char *msg)
{
    size_t o = 0;
    int space = 0, newline = 0;
    if (!dstlen) return;
    for (const char *p = msg ? msg : ""; *p && o + 1 < dstlen; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t' || *p == ' ') {
            space = 1;
            newline |= *p == '\n';
            continue;
        }
        if (space && o > 0 && o + 3 < dstlen) {
            if (newline) dst[o++] = ';';
            dst[o++] = ' ';
        }
        space = newline = 0;
        dst[o++] = *p;
    }
    dst[o] = '\0';
}
