/* Text extraction as children on the loop (worker/svc/extract.h): the job,
 * its children, and the sources that take one child (images, HTML, text);
 * PDFs go on in extract_pdf.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/utf8.h"
#include "worker/svc/extract_internal.h"
#include "worker/svc/svc.h"

#define HEAD_BYTES      4096
#define STDERR_LINE_MAX 512
#define STDERR_LINES    100

static const char *base_name(const char *cmd)
{
    const char *s = strrchr(cmd, '/');
    return s ? s + 1 : cmd;
}

static void free_job(void *p)
{
    extract_job_t *j = p;
    buf_free(&j->out);
    buf_free(&j->pdf);
    free(j->page_off);
    free(j);
}

void extract_finish(extract_job_t *j, const char *error)
{
    if (j->finished) return;
    j->finished = 1;
    if (j->child) child_kill(j->child);
    j->child = NULL;
    loop_timer_stop(svc->loop, &j->kick);
    extract_pdf_cleanup(j);
    if (error) extract_log(j, "error", "%s", error);
    j->cb.on_done(j->cb.ud, error, j->pages_out, j->type);
    loop_free_later(svc->loop, j, free_job);
}

void extract_cancel(extract_job_t *j)
{
    if (!j || j->finished) return;
    j->finished = 1;
    if (j->child) child_kill(j->child); /* SIGKILL to its group */
    j->child = NULL;
    loop_timer_stop(svc->loop, &j->kick);
    extract_pdf_cleanup(j);
    loop_free_later(svc->loop, j, free_job);
}

void extract_log(extract_job_t *j, const char *level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* Lines quote child output and file names: always valid UTF-8. */
    size_t n = utf8_prefix(line, strlen(line), sizeof line - 1);
    line[n] = '\0';
    utf8_scrub(line, n);
    if (j->cb.on_log) j->cb.on_log(j->cb.ud, level, line);
}

void extract_progress(extract_job_t *j, const char *stage, uint32_t done, uint32_t total,
                      const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (j->cb.on_progress) j->cb.on_progress(j->cb.ud, stage, done, total, msg);
}

static int blank(char ch) { return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t'; }

/* len more bytes of text handed over, within ingest.max_extract_bytes;
 * -1 (the job finished with the error) past it. */
static int count_out(extract_job_t *j, size_t len)
{
    if (j->total_out + len > svc->cfg->extract_max_bytes) {
        char e[128];
        snprintf(e, sizeof e, "extracted text over %zu bytes (ingest.max_extract_bytes)",
                 svc->cfg->extract_max_bytes);
        extract_finish(j, e);
        return -1;
    }
    j->total_out += len;
    return 0;
}

int extract_emit(extract_job_t *j, uint32_t page, const char *text, size_t len)
{
    if (page > j->pages_out) j->pages_out = page;
    /* Trim the edges: a page of blanks is no text. */
    while (len && blank(text[0])) {
        text++;
        len--;
    }
    while (len && (blank(text[len - 1]) || text[len - 1] == '\f')) len--;
    if (len == 0) return 0;
    if (count_out(j, len) < 0) return -1;
    char *copy = NULL;
    if (!utf8_valid(text, len, NULL)) { /* a child's bytes: never pass invalid UTF-8 on */
        if (!(copy = malloc(len))) {
            extract_finish(j, "out of memory");
            return -1;
        }
        memcpy(copy, text, len);
        utf8_scrub(copy, len);
        text = copy;
    }
    if (j->cb.on_text) j->cb.on_text(j->cb.ud, page, text, len);
    free(copy);
    return j->finished ? -1 : 0;
}

/* ---- children ---- */

/* A single child's text is handed over as it comes: each page when its
 * form feed arrives, and a long page in pieces of about STREAM_PIECE cut
 * on a character boundary, so a 50 MB text file never reaches the service
 * (or sits in memory) as one block and the loop keeps serving. */
#define STREAM_PIECE (64 * 1024)

static int emit_piece(extract_job_t *j, const char *text, size_t len)
{
    if (!j->s_text) /* a page's leading blanks are no text */
        while (len && blank(*text)) {
            text++;
            len--;
        }
    if (len == 0) return 0;
    if (count_out(j, len) < 0) return -1;
    j->s_text = 1;
    if (j->s_page > j->pages_out) j->pages_out = j->s_page;
    /* A child's bytes: never pass invalid UTF-8 on (scrubbed in place: the
     * buffer is ours and consumed right after). */
    utf8_scrub((char *)text, len);
    if (j->cb.on_text) j->cb.on_text(j->cb.ud, j->s_page, text, len);
    return j->finished ? -1 : 0;
}

static int stream_out(extract_job_t *j, int final)
{
    const char *d = j->out.data;
    size_t n = j->out.len, start = 0;
    if (j->s_page == 0) j->s_page = 1;
    for (size_t i = 0; i < n; i++) {
        if (d[i] != '\f') continue;
        if (emit_piece(j, d + start, i - start) < 0) return -1;
        j->s_page++;
        j->s_text = 0;
        start = i + 1;
    }
    size_t tail = n - start, cut = 0;
    if (final)
        cut = tail;
    else if (tail >= STREAM_PIECE)
        cut = utf8_prefix(d + start, tail, tail);
    if (cut && emit_piece(j, d + start, cut) < 0) return -1;
    buf_consume(&j->out, start + cut);
    return 0;
}

static void on_child_out(void *ud, const char *data, size_t n)
{
    extract_job_t *j = ud;
    if (buf_append(&j->out, data, n) < 0) {
        extract_finish(j, "out of memory");
        return;
    }
    if (j->step == STEP_SINGLE) stream_out(j, 0);
}

static void on_child_err(void *ud, const char *line, size_t n)
{
    extract_job_t *j = ud;
    if (line[0] != '(') utf8_snprintf(j->last_err, sizeof j->last_err, "%.*s", (int)n, line);
    extract_log(j, "warn", "%s: %.*s", j->prog, (int)n, line);
}

/* A single-child source ended well: the rest of its text. Pages: every
 * page a form feed ended, and the last one when it had text. */
static void single_done(extract_job_t *j)
{
    const char *stage = j->type == EXTRACT_PNG || j->type == EXTRACT_JPEG || j->type == EXTRACT_TIFF
                            ? "ocr"
                            : "text_extraction";
    if (stream_out(j, 1) < 0) return;
    uint32_t pages = j->s_page ? j->s_page - 1 + (uint32_t)j->s_text : 0;
    extract_progress(j, stage, pages, pages, "Extracted %u page%s", pages, pages == 1 ? "" : "s");
    if (!j->finished) extract_finish(j, NULL);
}

static void on_child_exit(void *ud, const child_result_t *r)
{
    extract_job_t *j = ud;
    char how[96], e[256];
    j->child = NULL;
    extract_log(j, "info", "%s: %s%s%s after %.2f s, %zu bytes of output", j->prog,
                child_describe(r, how, sizeof how), r->error ? ", " : "", r->error ? r->error : "",
                r->elapsed_ms / 1000.0, r->stdout_bytes);
    if (j->finished) return;
    if (r->error) {
        utf8_snprintf(e, sizeof e, "%s %s", j->prog, r->error);
        extract_finish(j, e);
        return;
    }
    if (j->self_cmd && r->exited && r->exit_status == 1 && j->last_err[0]) {
        extract_finish(j, j->last_err); /* our own subcommand says why, for the task */
        return;
    }
    if (!r->exited || r->exit_status != 0) {
        utf8_snprintf(e, sizeof e, "%s failed (%s)%s%s", j->prog, how, j->last_err[0] ? ": " : "",
                      j->last_err);
        extract_finish(j, e);
        return;
    }
    switch (j->step) {
    case STEP_SINGLE: single_done(j); break;
    case STEP_PDF_TEXT: extract_pdf_text_done(j); break;
    case STEP_PDF_RENDER: extract_pdf_render_done(j); break;
    case STEP_PDF_OCR: extract_pdf_ocr_done(j); break;
    }
}

int extract_run(extract_job_t *j, const char *const *argv)
{
    const ragws_config_t *cfg = svc->cfg;
    child_opts_t o = {.argv = argv,
                      .timeout_ms = cfg->extract_timeout_ms,
                      .max_stdout = cfg->extract_max_bytes,
                      .stderr_line_max = STDERR_LINE_MAX,
                      .stderr_max_lines = STDERR_LINES};
    child_callbacks_t cb = {.ud = j,
                            .on_stdout = on_child_out,
                            .on_stderr_line = on_child_err,
                            .on_exit = on_child_exit};
    j->self_cmd = argv[1] && strncmp(argv[1], "extract-", 8) == 0;
    if (j->self_cmd)
        snprintf(j->prog, sizeof j->prog, "ragws %.40s", argv[1]);
    else
        snprintf(j->prog, sizeof j->prog, "%.60s", base_name(argv[0]));
    buf_reset(&j->out);
    j->last_err[0] = '\0';
    char err[256];
    j->child = child_spawn(svc->loop, &o, &cb, err, sizeof err);
    if (!j->child) {
        snprintf(j->early_error, sizeof j->early_error, "%s", err);
        return -1;
    }
    return 0;
}

/* ---- start ---- */

/* The first child, from the loop (never inside extract_start). */
static void on_kick(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    extract_job_t *j = t->data;
    const ragws_config_t *cfg = svc->cfg;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    const char *tess[] = {cfg->tesseract_cmd, j->path, "-", "-l", cfg->ocr_language, NULL};
    const char *pdf[] = {cfg->pdftotext_cmd, "-enc", "UTF-8", j->path, "-", NULL};
    const char *html[] = {self, "extract-html", j->path, NULL};
    const char *text[] = {self, "extract-text", j->path, NULL};
    const char *const *argv = NULL;
    j->step = STEP_SINGLE;
    switch (j->type) {
    case EXTRACT_UNKNOWN: extract_finish(j, j->early_error); return;
    case EXTRACT_PDF: argv = pdf, j->step = STEP_PDF_TEXT; break;
    case EXTRACT_PNG:
    case EXTRACT_JPEG:
    case EXTRACT_TIFF: argv = tess; break;
    case EXTRACT_HTML: argv = html; break;
    case EXTRACT_MARKDOWN:
    case EXTRACT_TEXT: argv = text; break;
    }
    if ((j->type == EXTRACT_HTML || j->type == EXTRACT_TEXT || j->type == EXTRACT_MARKDOWN) &&
        !self[0]) {
        extract_finish(j, "cannot find the ragws program (/proc/self/exe)");
        return;
    }
    int ocr = argv == tess;
    extract_progress(j, ocr ? "ocr" : "text_extraction", 0, ocr ? 1 : 0, "%s of %s with %s",
                     ocr ? "OCR" : "Text extraction", extract_type_name(j->type),
                     base_name(argv[0]));
    if (j->finished) return;
    extract_log(j, "info", "%s file: running %s", extract_type_name(j->type), base_name(argv[0]));
    if (extract_run(j, argv) < 0) extract_finish(j, j->early_error);
}

/* The first bytes of the file: 0, or -1 with err. */
static int read_head(const char *path, unsigned char *head, size_t *n, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = fd < 0 ? errno : EINVAL;
        if (fd >= 0) close(fd);
        snprintf(err, errlen, "cannot read %s: %s", path,
                 e == EINVAL ? "not a regular file" : strerror(e));
        return -1;
    }
    *n = 0;
    while (*n < HEAD_BYTES) {
        ssize_t r = read(fd, head + *n, HEAD_BYTES - *n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        *n += (size_t)r;
    }
    close(fd);
    return 0;
}

extract_job_t *extract_start(const char *path, const char *filename, const char *content_type,
                             const extract_callbacks_t *cb, char *err, size_t errlen)
{
    unsigned char head[HEAD_BYTES];
    size_t n = 0;
    if (strlen(path) >= PATH_MAX - 32) {
        snprintf(err, errlen, "cannot read %s: path too long", path);
        return NULL;
    }
    if (read_head(path, head, &n, err, errlen) < 0) return NULL;
    extract_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    j->cb = *cb;
    /* A path starting with '-' would read as an option of the programs. */
    snprintf(j->path, sizeof j->path, "%s%s", path[0] == '-' ? "./" : "", path);
    j->out = (buf_t)BUF_INIT(svc->cfg->extract_max_bytes);
    j->pdf = (buf_t)BUF_INIT(svc->cfg->extract_max_bytes);
    j->type = extract_detect(head, n, filename, content_type);
    if (j->type == EXTRACT_UNKNOWN)
        snprintf(j->early_error, sizeof j->early_error, "unsupported file type: %s",
                 extract_guess_mime(head, n));
    loop_timer_start(svc->loop, &j->kick, 0, on_kick, j);
    return j;
}
