/* Inside the extractor (worker/svc/extract*.c only): one job's state and
 * the steps its files share.
 *
 * A job runs one child at a time (io/child.h) and collects that child's
 * stdout in `out` (bounded by ingest.max_extract_bytes); when the child
 * ends, job->step says what comes next. A PDF keeps pdftotext's text in
 * `pdf` while its pages are walked: a page with text is handed over as
 * is, a page with (almost) none is rendered into tmpdir and OCR'd. The
 * job belongs to its caller until on_done; cancel and done both hand its
 * memory to loop_free_later, so a callback still on the stack never sees
 * it freed. */
#ifndef RAGWS_WORKER_SVC_EXTRACT_INTERNAL_H
#define RAGWS_WORKER_SVC_EXTRACT_INTERNAL_H

#include <limits.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/loop.h"
#include "io/child.h"
#include "worker/svc/extract.h"

enum extract_step {
    STEP_SINGLE,     /* one child gives the whole text (image, HTML, text) */
    STEP_PDF_TEXT,   /* pdftotext */
    STEP_PDF_RENDER, /* pdftoppm of page `page` */
    STEP_PDF_OCR,    /* tesseract of that page's image */
};

struct extract_job {
    extract_callbacks_t cb;
    enum extract_type type;
    enum extract_step step;
    char path[PATH_MAX];
    char tmpdir[PATH_MAX]; /* "" until a scanned page needs one */
    child_t *child;        /* the running child, or NULL */
    char prog[64];         /* its program's base name, for messages */
    int self_cmd;          /* it is `ragws extract-*`: its stderr line is the error */
    buf_t out;             /* its stdout */
    size_t total_out;      /* text handed over so far (bounded too) */
    loop_timer_t kick;     /* on_done outside extract_start */
    char early_error[256];
    char last_err[160]; /* the child's last stderr line, for its failure */
    int finished;       /* on_done ran or cancelled: nothing more */
    /* PDF */
    buf_t pdf;          /* pdftotext's text */
    size_t *page_off;   /* start of page i in pdf (n_pages + 1 entries) */
    uint32_t n_pages;   /* pages in the PDF */
    uint32_t page;      /* 1-based page being handled */
    uint32_t ocr_pages; /* pages needing OCR, and done so far */
    uint32_t ocr_done;
    uint32_t pages_out; /* pages handed over */
    /* single-child sources, streamed (extract.c stream_out) */
    uint32_t s_page; /* 1-based page the next bytes belong to */
    int s_text;      /* that page has had text */
};

/* Runs argv as the job's child (step set by the caller); -1 with the job
 * finished (on_done called with the error) when it cannot start. */
int extract_run(extract_job_t *j, const char *const *argv);
/* One page's text (scrubbed to valid UTF-8); -1 when cancelled. */
int extract_emit(extract_job_t *j, uint32_t page, const char *text, size_t len);
void extract_progress(extract_job_t *j, const char *stage, uint32_t done, uint32_t total,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void extract_log(extract_job_t *j, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* on_done once, then the job goes (loop_free_later). */
void extract_finish(extract_job_t *j, const char *error);

/* PDF steps (extract_pdf.c). */
void extract_pdf_text_done(extract_job_t *j);
void extract_pdf_render_done(extract_job_t *j);
void extract_pdf_ocr_done(extract_job_t *j);
/* Removes tmpdir and what is in it. */
void extract_pdf_cleanup(extract_job_t *j);

/* For the error of an unsupported file: what the bytes probably are. */
const char *extract_guess_mime(const unsigned char *h, size_t n);

#endif
