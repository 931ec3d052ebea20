/* worker/svc/extract_detect.c: the type comes from the bytes (magic for
 * PDF, PNG, JPEG, TIFF; HTML by its first tag after a BOM, whitespace or
 * comments; text when valid UTF-8), the name or Content-Type only choose
 * Markdown, name HTML fragments, or send a named text file to the UTF-8
 * check; anything else is unknown, with a guess for the error text. */
#include "tests/unit/unit.h"
#include "worker/svc/extract.h"
#include "worker/svc/extract_internal.h"

#define D(s, name, ct) extract_detect((const unsigned char *)(s), sizeof(s) - 1, name, ct)

static void test_magic_bytes_win_over_names(void)
{
    CHECK_EQ_INT(D("%PDF-1.7\n%\xe2\xe3", "notes.txt", "text/plain"), EXTRACT_PDF);
    CHECK_EQ_INT(D("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "scan.md", NULL), EXTRACT_PNG);
    CHECK_EQ_INT(D("\xFF\xD8\xFF\xE0\0\x10JFIF", NULL, NULL), EXTRACT_JPEG);
    CHECK_EQ_INT(D("II*\0\x08\0\0\0", "x.pdf", NULL), EXTRACT_TIFF);
    CHECK_EQ_INT(D("MM\0*\0\0\0\x08", NULL, "application/pdf"), EXTRACT_TIFF);
    /* Near misses are not those types. */
    CHECK_EQ_INT(D("%PDF", NULL, NULL), EXTRACT_TEXT);
    CHECK_EQ_INT(D("\x89PNG\r\n", NULL, NULL), EXTRACT_UNKNOWN);
    CHECK_EQ_INT(D("II*", NULL, NULL), EXTRACT_TEXT);
}

static void test_html_by_first_tag(void)
{
    CHECK_EQ_INT(D("<!DOCTYPE html>\n<html>", NULL, NULL), EXTRACT_HTML);
    CHECK_EQ_INT(D("\xEF\xBB\xBF  \r\n\t<HTML lang=fr>", "page.txt", NULL), EXTRACT_HTML);
    CHECK_EQ_INT(D("<!-- généré --> <head><title>", NULL, NULL), EXTRACT_HTML);
    CHECK_EQ_INT(D("<body>", NULL, NULL), EXTRACT_HTML);
    CHECK_EQ_INT(D("<html", NULL, NULL), EXTRACT_HTML); /* cut by the head's end */
    CHECK_EQ_INT(D("<htmlx>", NULL, NULL), EXTRACT_TEXT);
    CHECK_EQ_INT(D("<!-- never closed <html>", NULL, NULL), EXTRACT_TEXT);
    CHECK_EQ_INT(D("Some <html> later", NULL, NULL), EXTRACT_TEXT);
    /* A fragment the sender names HTML. */
    CHECK_EQ_INT(D("<p>Bonjour</p>", "frag.HTML", NULL), EXTRACT_HTML);
    CHECK_EQ_INT(D("<p>Bonjour</p>", NULL, "text/html; charset=utf-8"), EXTRACT_HTML);
}

static void test_text_and_markdown(void)
{
    CHECK_EQ_INT(D("Les élèves déjà là 😀\n", "notes.txt", NULL), EXTRACT_TEXT);
    CHECK_EQ_INT(D("# Titre\n", "README.md", NULL), EXTRACT_MARKDOWN);
    CHECK_EQ_INT(D("# Titre\n", "doc.Markdown", NULL), EXTRACT_MARKDOWN);
    CHECK_EQ_INT(D("# Titre\n", "upload", "text/markdown; charset=utf-8"), EXTRACT_MARKDOWN);
    CHECK_EQ_INT(D("# Titre\n", "upload", "text/markdownx"), EXTRACT_TEXT);
    CHECK_EQ_INT(D("", "empty", NULL), EXTRACT_TEXT);
    /* A multi-byte character cut by the end of the head is still text. */
    CHECK_EQ_INT(D("caf\xC3", NULL, NULL), EXTRACT_TEXT);
    CHECK_EQ_INT(D("emoji \xF0\x9F\x98", NULL, NULL), EXTRACT_TEXT);
    /* Invalid UTF-8 is not text, unless the name says text: then the UTF-8
     * check of `ragws extract-text` gives the precise error. */
    CHECK_EQ_INT(D("caf\xE9 cr\xE8me", NULL, NULL), EXTRACT_UNKNOWN);
    CHECK_EQ_INT(D("caf\xE9 cr\xE8me", "latin1.txt", NULL), EXTRACT_TEXT);
    CHECK_EQ_INT(D("# x\n\0\1\2", "image.md", NULL), EXTRACT_MARKDOWN);
    CHECK_EQ_INT(D("a\0b", NULL, NULL), EXTRACT_UNKNOWN);
    CHECK_EQ_INT(D("caf\xC3(", NULL, NULL), EXTRACT_UNKNOWN);
}

static void test_names_and_guesses(void)
{
    CHECK_EQ_STR(extract_type_name(EXTRACT_PDF), "pdf");
    CHECK_EQ_STR(extract_type_mime(EXTRACT_PDF), "application/pdf");
    CHECK_EQ_STR(extract_type_mime(EXTRACT_TIFF), "image/tiff");
    CHECK_EQ_STR(extract_type_mime(EXTRACT_MARKDOWN), "text/markdown");
    CHECK_EQ_STR(extract_type_name(EXTRACT_UNKNOWN), "unknown");
    CHECK_EQ_STR(extract_type_name((enum extract_type)99), "unknown");
    CHECK_EQ_STR(extract_guess_mime((const unsigned char *)"PK\3\4xx", 6), "application/zip");
    CHECK_EQ_STR(extract_guess_mime((const unsigned char *)"GIF89a", 6), "image/gif");
    CHECK_EQ_STR(extract_guess_mime((const unsigned char *)"\1\2", 2), "application/octet-stream");
    CHECK_EQ_INT(D("PK\3\4\x14\0\0\0", "a.docx", NULL), EXTRACT_UNKNOWN);
    CHECK_EQ_INT(D("PK\3\4text", "a.txt", NULL), EXTRACT_UNKNOWN); /* magic first */
    CHECK_EQ_INT(D("GIF89a....", NULL, NULL), EXTRACT_UNKNOWN);
}

int main(void)
{
    RUN(test_magic_bytes_win_over_names);
    RUN(test_html_by_first_tag);
    RUN(test_text_and_markdown);
    RUN(test_names_and_guesses);
    return UNIT_SUMMARY();
}
