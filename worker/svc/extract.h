/* Text extraction of one stored file, as child processes watched by the
 * event loop (io/child.h): nothing here blocks or waits.
 *
 *   PDF              pdftotext (pages kept: a form feed ends each page)
 *   PDF, no text     pdftoppm renders each page, tesseract reads each image
 *   PNG, JPEG, TIFF  tesseract
 *   HTML             `ragws extract-html FILE` (libxml2's HTML parser) as a child
 *   text, Markdown   `ragws extract-text FILE` as a child (UTF-8 checked)
 *
 * The type comes from the content (magic bytes), the name and the declared
 * Content-Type only decide between text and Markdown or HTML when the
 * bytes do not; what cannot be extracted fails with a clear error.
 * Commands, timeout (ingest.extract_timeout) and output limit
 * (ingest.max_extract_bytes) come from svc->cfg. Every child's stderr is
 * handed to on_log line by line.
 *
 * Lifetime: extract_start returns a job owned by the caller until on_done
 * (called exactly once, never from inside extract_start), after which the
 * job frees itself. extract_cancel kills every child of the job at once
 * (SIGKILL to its process group) and frees it: no callback runs after it.
 * Callbacks may call extract_cancel on their own job (then return at once). */
#ifndef RAGWS_WORKER_SVC_EXTRACT_H
#define RAGWS_WORKER_SVC_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

enum extract_type {
    EXTRACT_UNKNOWN = 0,
    EXTRACT_PDF,
    EXTRACT_PNG,
    EXTRACT_JPEG,
    EXTRACT_TIFF,
    EXTRACT_HTML,
    EXTRACT_MARKDOWN,
    EXTRACT_TEXT,
};

/* The type from the first bytes of the file (head[0..n), n may be 0), the
 * file name (may be NULL) and the declared Content-Type (may be NULL). */
enum extract_type extract_detect(const unsigned char *head, size_t n, const char *filename,
                                 const char *content_type);
/* "pdf", "png", ... "unknown"; and the MIME type ("application/pdf" ...). */
const char *extract_type_name(enum extract_type t);
const char *extract_type_mime(enum extract_type t);

typedef struct extract_job extract_job_t;

typedef struct extract_callbacks {
    void *ud;
    /* Text of page `page` (1-based; 1 for sources without pages), valid
     * UTF-8, in pieces of any size; pages come in order and a page is
     * complete when a higher page number (or on_done) arrives. */
    void (*on_text)(void *ud, uint32_t page, const char *text, size_t len);
    /* Stage "text_extraction", "rendering" or "ocr"; done of total pages
     * (total 0: unknown) and a human message ("OCR page 2 of 5"). */
    void (*on_progress)(void *ud, const char *stage, uint32_t done, uint32_t total,
                        const char *message);
    /* level "info" | "warn" | "error"; one line (a child's stderr line or
     * what the extractor did: which program, exit status, timings). */
    void (*on_log)(void *ud, const char *level, const char *line);
    /* Exactly once. error NULL on success, else a clear one-line text for
     * the task ("pdftotext timed out after 300 s", "unsupported file type:
     * application/zip"). pages: how many were extracted. */
    void (*on_done)(void *ud, const char *error, uint32_t pages, enum extract_type type);
} extract_callbacks_t;

/* Start extracting the file at path. NULL with err filled when nothing
 * could be started (the file cannot be read); callbacks are copied. */
extract_job_t *extract_start(const char *path, const char *filename, const char *content_type,
                             const extract_callbacks_t *cb, char *err, size_t errlen);
void extract_cancel(extract_job_t *j);

#endif
