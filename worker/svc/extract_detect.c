/* The type of a stored file from its first bytes (worker/svc/extract.h):
 * magic bytes first; the name and the declared Content-Type only choose
 * between plain text and Markdown, or name HTML that the bytes show as
 * text. */
#include <string.h>
#include <strings.h>

#include "base/utf8.h"
#include "worker/svc/extract.h"
#include "worker/svc/extract_internal.h"

static int starts(const unsigned char *h, size_t n, const void *magic, size_t m)
{
    return n >= m && memcmp(h, magic, m) == 0;
}

/* Case-insensitive prefix, then a tag end (space, '>' or '/'). */
static int tag_at(const unsigned char *h, size_t n, const char *tag)
{
    size_t m = strlen(tag);
    if (n < m || strncasecmp((const char *)h, tag, m) != 0) return 0;
    if (n == m) return 1; /* cut there: assume the tag goes on */
    unsigned char c = h[m];
    return c == '>' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '/';
}

/* HTML: after a BOM and whitespace (and comments), a doctype or one of the
 * usual first tags. */
static int looks_html(const unsigned char *h, size_t n)
{
    size_t i = 0;
    if (starts(h, n, "\xEF\xBB\xBF", 3)) i = 3;
    for (;;) {
        while (i < n && (h[i] == ' ' || h[i] == '\t' || h[i] == '\r' || h[i] == '\n')) i++;
        if (n - i >= 4 && memcmp(h + i, "<!--", 4) == 0) {
            const unsigned char *end = memmem(h + i + 4, n - i - 4, "-->", 3);
            if (!end) return 0;
            i = (size_t)(end - h) + 3;
            continue;
        }
        break;
    }
    static const char *const tags[] = {"<!doctype html", "<html", "<head", "<body"};
    for (size_t t = 0; t < sizeof tags / sizeof tags[0]; t++)
        if (tag_at(h + i, n - i, tags[t])) return 1;
    return 0;
}

/* Valid UTF-8 with no NUL; the last sequence may be cut by the end of the
 * head. */
static int looks_text(const unsigned char *h, size_t n)
{
    if (memchr(h, '\0', n)) return 0;
    size_t bad;
    if (utf8_valid((const char *)h, n, &bad)) return 1;
    /* Only a sequence cut by the end of the head is allowed: a lead byte,
     * then continuation bytes, fewer than the lead announces. */
    unsigned char lead = h[bad];
    size_t need = lead >= 0xC2 && lead <= 0xDF   ? 2
                  : lead >= 0xE0 && lead <= 0xEF ? 3
                  : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                 : 0;
    if (need == 0 || n - bad >= need) return 0;
    for (size_t i = bad + 1; i < n; i++)
        if ((h[i] & 0xC0) != 0x80) return 0;
    return 1;
}

static int name_ends(const char *name, const char *ext)
{
    if (!name) return 0;
    size_t n = strlen(name), m = strlen(ext);
    return n > m && strcasecmp(name + n - m, ext) == 0;
}

static int ctype_is(const char *ct, const char *mime)
{
    if (!ct) return 0;
    size_t m = strlen(mime);
    return strncasecmp(ct, mime, m) == 0 && (ct[m] == '\0' || ct[m] == ';' || ct[m] == ' ');
}

enum extract_type extract_detect(const unsigned char *head, size_t n, const char *filename,
                                 const char *content_type)
{
    if (starts(head, n, "%PDF-", 5)) return EXTRACT_PDF;
    if (starts(head, n, "\x89PNG\r\n\x1a\n", 8)) return EXTRACT_PNG;
    if (starts(head, n, "\xFF\xD8\xFF", 3)) return EXTRACT_JPEG;
    if (starts(head, n, "II*\0", 4) || starts(head, n, "MM\0*", 4)) return EXTRACT_TIFF;
    /* Archives, executables, other images: never text, even when their
     * first bytes happen to be valid UTF-8. */
    if (strcmp(extract_guess_mime(head, n), "application/octet-stream") != 0)
        return EXTRACT_UNKNOWN;
    if (looks_html(head, n)) return EXTRACT_HTML;
    /* Named text: `ragws extract-text` checks it and says why when it is
     * not UTF-8 (clearer than "unsupported" for a Latin-1 notes.txt). */
    if (name_ends(filename, ".md") || name_ends(filename, ".markdown") ||
        ctype_is(content_type, "text/markdown"))
        return EXTRACT_MARKDOWN;
    if (!looks_text(head, n))
        return name_ends(filename, ".txt") || ctype_is(content_type, "text/plain")
                   ? EXTRACT_TEXT
                   : EXTRACT_UNKNOWN;
    /* Text that the sender names HTML (a fragment without <html>). */
    if (name_ends(filename, ".html") || name_ends(filename, ".htm") ||
        ctype_is(content_type, "text/html"))
        return EXTRACT_HTML;
    return EXTRACT_TEXT;
}

static const struct {
    const char *name, *mime;
} TYPES[] = {
    [EXTRACT_UNKNOWN] = {"unknown", "application/octet-stream"},
    [EXTRACT_PDF] = {"pdf", "application/pdf"},
    [EXTRACT_PNG] = {"png", "image/png"},
    [EXTRACT_JPEG] = {"jpeg", "image/jpeg"},
    [EXTRACT_TIFF] = {"tiff", "image/tiff"},
    [EXTRACT_HTML] = {"html", "text/html"},
    [EXTRACT_MARKDOWN] = {"markdown", "text/markdown"},
    [EXTRACT_TEXT] = {"text", "text/plain"},
};

const char *extract_type_name(enum extract_type t)
{
    return (unsigned)t < sizeof TYPES / sizeof TYPES[0] ? TYPES[t].name : "unknown";
}

const char *extract_type_mime(enum extract_type t)
{
    return (unsigned)t < sizeof TYPES / sizeof TYPES[0] ? TYPES[t].mime
                                                        : "application/octet-stream";
}

const char *extract_guess_mime(const unsigned char *h, size_t n)
{
    static const struct {
        const char *magic;
        size_t len;
        const char *mime;
    } KNOWN[] = {
        {"PK\x03\x04", 4, "application/zip"},
        {"\x1f\x8b", 2, "application/gzip"},
        {"GIF87a", 6, "image/gif"},
        {"GIF89a", 6, "image/gif"},
        {"\x7f"
         "ELF",
         4, "application/x-executable"},
        {"7z\xBC\xAF\x27\x1C", 6, "application/x-7z-compressed"},
        {"Rar!", 4, "application/vnd.rar"},
        {"\xD0\xCF\x11\xE0", 4, "application/x-ole-storage"},
        {"\xFD"
         "7zXZ",
         5, "application/x-xz"},
    };
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (starts(h, n, KNOWN[i].magic, KNOWN[i].len)) return KNOWN[i].mime;
    return "application/octet-stream";
}
