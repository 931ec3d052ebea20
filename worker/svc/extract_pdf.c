/* PDFs (worker/svc/extract_internal.h): pdftotext gives every page's text
 * layer, pages ending at form feeds; a page with (almost) no text is a
 * scanned page: pdftoppm renders that one page into a private directory
 * under ingest.upload_dir and tesseract reads it, page by page in order,
 * so the disk holds one page image at a time. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/utf8.h"
#include "worker/svc/extract_internal.h"
#include "worker/svc/svc.h"

/* Fewer letters than this on a page: no real text layer there. */
#define MIN_PAGE_CHARS 16

static uint32_t page_chars(const extract_job_t *j, uint32_t p)
{
    uint32_t n = 0;
    for (size_t i = j->page_off[p - 1]; i < j->page_off[p]; i++) {
        unsigned char c = (unsigned char)j->pdf.data[i];
        if (c > ' ' && c != 0x7f) n++;
    }
    return n;
}

/* mkdir -p of the upload directory (the CLI may run before any server). */
static void make_dirs(const char *dir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        mkdir(p, 0700);
        *s = '/';
    }
    mkdir(p, 0700);
}

static int make_tmpdir(extract_job_t *j)
{
    if (j->tmpdir[0]) return 0;
    const char *dir = svc->cfg->upload_dir[0] ? svc->cfg->upload_dir : ".";
    char t[PATH_MAX], tmpl[PATH_MAX];
    if ((size_t)snprintf(tmpl, sizeof tmpl, "%s/ocr-XXXXXX", dir) >= sizeof tmpl) {
        snprintf(j->early_error, sizeof j->early_error, "ingest.upload_dir is too long");
        return -1;
    }
    memcpy(t, tmpl, sizeof t);
    if (!mkdtemp(t)) {
        make_dirs(dir);
        memcpy(t, tmpl, sizeof t); /* mkdtemp spoils its template when it fails */
        if (!mkdtemp(t)) {
            utf8_snprintf(j->early_error, sizeof j->early_error,
                          "cannot create a directory for OCR pages in %s: %s", dir,
                          strerror(errno));
            return -1;
        }
    }
    snprintf(j->tmpdir, sizeof j->tmpdir, "%s", t);
    return 0;
}

void extract_pdf_cleanup(extract_job_t *j)
{
    if (!j->tmpdir[0]) return;
    /* Only our own directory: whatever pdftoppm left in it goes. */
    DIR *d = opendir(j->tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char p[PATH_MAX + 256];
            snprintf(p, sizeof p, "%s/%s", j->tmpdir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(j->tmpdir);
    j->tmpdir[0] = '\0';
}

/* Hands over text pages until one needs OCR (then starts rendering it) or
 * the last one is done. */
static void next_page(extract_job_t *j)
{
    const ragws_config_t *cfg = svc->cfg;
    while (++j->page <= j->n_pages) {
        if (page_chars(j, j->page) >= MIN_PAGE_CHARS) {
            size_t a = j->page_off[j->page - 1], b = j->page_off[j->page];
            if (extract_emit(j, j->page, j->pdf.data + a, b - a) < 0) return;
            continue;
        }
        if (make_tmpdir(j) < 0) {
            extract_finish(j, j->early_error);
            return;
        }
        char dpi[16], pg[16], out[PATH_MAX + 16];
        snprintf(dpi, sizeof dpi, "%u", cfg->ocr_dpi);
        snprintf(pg, sizeof pg, "%u", j->page);
        snprintf(out, sizeof out, "%s/page", j->tmpdir);
        const char *argv[] = {cfg->pdftoppm_cmd, "-r",    dpi, "-png", "-f", pg, "-l", pg,
                              "-singlefile",     j->path, out, NULL};
        extract_progress(j, "rendering", j->ocr_done, j->ocr_pages, "Rendering page %u of %u",
                         j->page, j->n_pages);
        if (j->finished) return;
        j->step = STEP_PDF_RENDER;
        if (extract_run(j, argv) < 0) extract_finish(j, j->early_error);
        return;
    }
    extract_progress(j, j->ocr_pages ? "ocr" : "text_extraction", j->n_pages, j->n_pages,
                     "Extracted %u page%s", j->n_pages, j->n_pages == 1 ? "" : "s");
    if (!j->finished) extract_finish(j, NULL);
}

/* Page starts in pdftotext's text: a form feed ends each page. */
static int split_pages(extract_job_t *j)
{
    const char *t = j->pdf.data ? j->pdf.data : "";
    size_t len = j->pdf.len;
    uint32_t ff = 0;
    for (size_t i = 0; i < len; i++) ff += t[i] == '\f';
    int tail = len && t[len - 1] != '\f';
    j->n_pages = ff + (uint32_t)tail;
    if (j->n_pages == 0) j->n_pages = 1; /* no text at all: one page, OCR'd */
    if (!(j->page_off = calloc((size_t)j->n_pages + 1, sizeof *j->page_off))) return -1;
    uint32_t p = 1;
    for (size_t i = 0; i < len && p < j->n_pages; i++)
        if (t[i] == '\f') j->page_off[p++] = i + 1;
    j->page_off[j->n_pages] = len;
    return 0;
}

void extract_pdf_text_done(extract_job_t *j)
{
    buf_t tmp = j->pdf;
    j->pdf = j->out; /* keep the text while the pages are walked */
    j->out = tmp;
    buf_reset(&j->out);
    if (split_pages(j) < 0) {
        extract_finish(j, "out of memory");
        return;
    }
    for (uint32_t p = 1; p <= j->n_pages; p++) j->ocr_pages += page_chars(j, p) < MIN_PAGE_CHARS;
    if (j->ocr_pages)
        extract_log(j, "info", "pdf: %u page%s, %u without a text layer (scanned): OCR with %s",
                    j->n_pages, j->n_pages == 1 ? "" : "s", j->ocr_pages, svc->cfg->tesseract_cmd);
    else
        extract_log(j, "info", "pdf: %u page%s with a text layer", j->n_pages,
                    j->n_pages == 1 ? "" : "s");
    extract_progress(j, "text_extraction", j->n_pages - j->ocr_pages, j->n_pages,
                     "Text layer of %u page%s read", j->n_pages, j->n_pages == 1 ? "" : "s");
    if (j->finished) return;
    j->page = 0;
    next_page(j);
}

void extract_pdf_render_done(extract_job_t *j)
{
    const ragws_config_t *cfg = svc->cfg;
    char img[PATH_MAX + 16];
    snprintf(img, sizeof img, "%s/page.png", j->tmpdir);
    if (access(img, R_OK) != 0) {
        char e[128];
        snprintf(e, sizeof e, "%s rendered no image of page %u", j->prog, j->page);
        extract_finish(j, e);
        return;
    }
    const char *argv[] = {cfg->tesseract_cmd, img, "-", "-l", cfg->ocr_language, NULL};
    extract_progress(j, "ocr", j->ocr_done, j->ocr_pages, "OCR page %u of %u", j->ocr_done + 1,
                     j->ocr_pages);
    if (j->finished) return;
    j->step = STEP_PDF_OCR;
    if (extract_run(j, argv) < 0) extract_finish(j, j->early_error);
}

void extract_pdf_ocr_done(extract_job_t *j)
{
    char img[PATH_MAX + 16];
    snprintf(img, sizeof img, "%s/page.png", j->tmpdir);
    unlink(img);
    j->ocr_done++;
    /* tesseract ends its page with a form feed: not a page of ours. */
    for (size_t i = 0; i < j->out.len; i++)
        if (j->out.data[i] == '\f') j->out.data[i] = '\n';
    size_t a = j->page_off[j->page - 1], b = j->page_off[j->page];
    int blank = 1;
    for (size_t i = 0; i < j->out.len && blank; i++) blank = (unsigned char)j->out.data[i] <= ' ';
    /* OCR found nothing: the little text layer there was is better than none. */
    int rc = blank ? extract_emit(j, j->page, j->pdf.data + a, b - a)
                   : extract_emit(j, j->page, j->out.data, j->out.len);
    if (rc < 0) return;
    extract_progress(j, "ocr", j->ocr_done, j->ocr_pages, "OCR page %u of %u done", j->ocr_done,
                     j->ocr_pages);
    if (!j->finished) next_page(j);
}
