/* `ragws extract-html FILE` and `ragws extract-text FILE` (cli/extract_cmd.h). */
#include "cli/extract_cmd.h"

#include <errno.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/utf8.h"

#define HTML_MAX_BYTES (256u * 1024 * 1024)
#define READ_CHUNK     (64 * 1024)

static const char REFUSE[] = "only UTF-8 text and Markdown can be ingested";

/* ---- extract-text ---- */

/* 1 when s[0..n) is the start of a UTF-8 sequence, cut before its end. */
static int cut_sequence(const char *s, size_t n)
{
    unsigned char lead = (unsigned char)s[0];
    size_t need = lead >= 0xC2 && lead <= 0xDF   ? 2
                  : lead >= 0xE0 && lead <= 0xEF ? 3
                  : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                 : 0;
    if (n == 0 || n >= need) return 0;
    for (size_t i = 1; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) return 0;
    return 1;
}

/* Streams the file: BOM dropped, CRLF (and a lone CR) to LF, form feeds
 * kept (they end pages); refuses a NUL byte or invalid UTF-8 at the first
 * one, with its offset. */
static int extract_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open: %s\n", strerror(errno));
        return 1;
    }
    static char in[READ_CHUNK + 8], out[READ_CHUNK + 8];
    size_t carry = 0;  /* bytes of a cut UTF-8 sequence at in[0..carry) */
    size_t offset = 0; /* file offset of in[0] */
    int cr = 0, first = 1, rc = 0;
    for (;;) {
        size_t got = fread(in + carry, 1, READ_CHUNK, f), n = carry + got;
        int eof = got == 0;
        if (eof && ferror(f)) {
            fprintf(stderr, "read error: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        const char *nul = memchr(in, '\0', n);
        size_t bad = n, keep = 0;
        if (nul) {
            fprintf(stderr, "binary file (NUL byte at offset %zu); %s\n",
                    offset + (size_t)(nul - in), REFUSE);
            rc = 1;
            break;
        }
        if (!utf8_valid(in, n, &bad)) {
            /* A sequence cut by the buffer's end is finished next round. */
            keep = n - bad;
            if (eof || !cut_sequence(in + bad, keep)) {
                fprintf(stderr, "not UTF-8 text (invalid byte at offset %zu); %s\n", offset + bad,
                        REFUSE);
                rc = 1;
                break;
            }
        }
        size_t start = 0, o = 0, end = n - keep;
        if (first && end >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0) start = 3;
        if (first && end > 0) first = 0;
        for (size_t i = start; i < end; i++) {
            char c = in[i];
            if (cr && c != '\n') out[o++] = '\n';
            cr = c == '\r';
            if (!cr) out[o++] = c;
        }
        if (o && fwrite(out, 1, o, stdout) != o) {
            rc = 1;
            break;
        }
        if (eof) break;
        memmove(in, in + end, keep);
        offset += end;
        carry = keep;
    }
    if (rc == 0 && cr) fputc('\n', stdout);
    fclose(f);
    if (fflush(stdout) != 0) rc = 1;
    return rc;
}

/* ---- extract-html ---- */

/* Elements whose text is no content of the page. */
static int skipped(const char *name)
{
    static const char *const S[] = {"script", "style",  "noscript", "template",
                                    "svg",    "iframe", "object"};
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++)
        if (strcasecmp(name, S[i]) == 0) return 1;
    return 0;
}

/* 2: a paragraph break around it; 1: a line break; 0: inline. */
static int block_kind(const char *name)
{
    static const char *const PARA[] = {
        "p",        "h1",     "h2",         "h3",    "h4",      "h5",     "h6",
        "title",    "pre",    "table",      "ul",    "ol",      "dl",     "section",
        "article",  "header", "footer",     "aside", "nav",     "main",   "form",
        "fieldset", "figure", "blockquote", "hr",    "details", "address"};
    static const char *const LINE[] = {"br",      "li",      "tr",         "div",    "dt",    "dd",
                                       "caption", "summary", "figcaption", "option", "legend"};
    for (size_t i = 0; i < sizeof PARA / sizeof PARA[0]; i++)
        if (strcasecmp(name, PARA[i]) == 0) return 2;
    for (size_t i = 0; i < sizeof LINE / sizeof LINE[0]; i++)
        if (strcasecmp(name, LINE[i]) == 0) return 1;
    return 0;
}

/* Text written so far: breaks are owed, then written before the next word,
 * so no page starts or ends with blank lines and runs collapse. */
typedef struct writer {
    int breaks;  /* newlines owed (at most 2) */
    int space;   /* a space owed */
    int started; /* something was written */
    int pre;     /* inside <pre>: whitespace kept */
} writer_t;

static void owe_break(writer_t *w, int kind)
{
    if (kind > w->breaks) w->breaks = kind;
    w->space = 0;
}

static void put_text(writer_t *w, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!w->pre && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f')) {
            w->space = 1;
            continue;
        }
        if (w->pre && c == '\n') {
            owe_break(w, 1);
            continue;
        }
        if (w->started && w->breaks)
            fputs(w->breaks >= 2 ? "\n\n" : "\n", stdout);
        else if (w->started && w->space)
            fputc(' ', stdout);
        w->breaks = w->space = 0;
        w->started = 1;
        fputc(c == '\f' ? ' ' : c, stdout);
    }
}

/* Walks the tree without recursion (deep nesting cannot exhaust the stack). */
static void walk(xmlNode *root, writer_t *w)
{
    xmlNode *n = root;
    while (n) {
        int descend = 0;
        if (n->type == XML_ELEMENT_NODE) {
            const char *name = (const char *)n->name;
            if (!skipped(name)) {
                owe_break(w, block_kind(name));
                if (strcasecmp(name, "pre") == 0) w->pre++;
                descend = n->children != NULL;
            }
        } else if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) && n->content) {
            put_text(w, (const char *)n->content);
        }
        if (descend) {
            n = n->children;
            continue;
        }
        /* Up until a sibling: closing each element on the way. */
        for (;;) {
            if (n->type == XML_ELEMENT_NODE && !skipped((const char *)n->name)) {
                owe_break(w, block_kind((const char *)n->name));
                if (strcasecmp((const char *)n->name, "pre") == 0 && w->pre) w->pre--;
            }
            if (n == root) return;
            if (n->next) {
                n = n->next;
                break;
            }
            n = n->parent;
            if (!n) return;
        }
    }
}

static int extract_html(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open: %s\n", strerror(errno));
        return 1;
    }
    buf_t b = BUF_INIT(HTML_MAX_BYTES);
    char chunk[READ_CHUNK];
    size_t got;
    int rc = 0;
    while (rc == 0 && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(&b, chunk, got) < 0) rc = 1;
    fclose(f);
    if (rc) {
        fprintf(stderr, "HTML file too large (more than %u bytes)\n", HTML_MAX_BYTES);
        buf_free(&b);
        return 1;
    }
    /* Valid UTF-8 is read as UTF-8 whatever a <meta> says (libxml2 would
     * guess Latin-1 without one); other bytes: libxml2 follows the page. */
    const char *enc = utf8_valid(b.data ? b.data : "", b.len, NULL) ? "UTF-8" : NULL;
    htmlDocPtr doc = htmlReadMemory(b.data ? b.data : "", (int)b.len, NULL, enc,
                                    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                        HTML_PARSE_NONET);
    buf_free(&b);
    if (!doc) {
        fprintf(stderr, "not an HTML document libxml2 can read\n");
        return 1;
    }
    writer_t w = {0};
    xmlNode *root = xmlDocGetRootElement(doc);
    if (root) walk(root, &w);
    if (w.started) fputc('\n', stdout);
    xmlFreeDoc(doc);
    xmlCleanupParser();
    return fflush(stdout) == 0 ? 0 : 1;
}

int cli_is_extract_command(const char *name)
{
    return strcmp(name, "extract-html") == 0 || strcmp(name, "extract-text") == 0;
}

int cli_extract_command(int n_args, char **args)
{
    if (n_args != 2) {
        fprintf(stderr, "usage: ragws %s FILE (internal: used by ingestion)\n", args[0]);
        return 2;
    }
    return strcmp(args[0], "extract-html") == 0 ? extract_html(args[1]) : extract_text(args[1]);
}
