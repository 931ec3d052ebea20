/* worker/svc/extract.c's jobs against worker/svc/extract.h, with stand-in
 * programs (shell scripts written here) for pdftotext, pdftoppm and
 * tesseract: a PDF's pages in order with their numbers, the near-empty
 * page rendered (at ocr_dpi, that page only) and OCR'd, progress and log
 * lines, the OCR directory removed; on_done exactly once and never from
 * inside extract_start; a timeout and a failing program give clear
 * errors; extract_cancel kills the child, removes the directory, and no
 * callback follows; an unsupported file fails with its guessed type. */
#include "tests/unit/unit.h"
#include "worker/svc/extract.h"
#include "worker/svc/svc.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static ragws_config_t cfg;

typedef struct got {
    char text[4096];
    size_t len;
    uint32_t last_page;
    int out_of_order;
    char stages[512];
    char logs[4096];
    int done;
    char error[256];
    uint32_t pages;
    enum extract_type type;
    extract_job_t *job;
    int cancel_at_ocr; /* extract_cancel from on_progress("ocr") */
    int cancelled;
} got_t;

static void on_text(void *ud, uint32_t page, const char *text, size_t len)
{
    got_t *g = ud;
    if (page < g->last_page) g->out_of_order = 1;
    g->len += (size_t)snprintf(g->text + g->len, sizeof g->text - g->len, "[%u]%.*s", page,
                               (int)len, text);
    g->last_page = page;
}

static void on_progress(void *ud, const char *stage, uint32_t done, uint32_t total,
                        const char *message)
{
    got_t *g = ud;
    size_t o = strlen(g->stages);
    snprintf(g->stages + o, sizeof g->stages - o, "%s %u/%u %s|", stage, done, total, message);
    if (g->cancel_at_ocr && strcmp(stage, "ocr") == 0 && !g->cancelled) {
        g->cancelled = 1;
        extract_cancel(g->job);
        loop_stop(svc->loop);
    }
}

static void on_log(void *ud, const char *level, const char *line)
{
    got_t *g = ud;
    size_t o = strlen(g->logs);
    snprintf(g->logs + o, sizeof g->logs - o, "%s: %s\n", level, line);
}

static void on_done(void *ud, const char *error, uint32_t pages, enum extract_type type)
{
    got_t *g = ud;
    g->done++;
    snprintf(g->error, sizeof g->error, "%s", error ? error : "");
    g->pages = pages;
    g->type = type;
    loop_stop(svc->loop);
}

static void on_guard(loop_t *loop, loop_timer_t *t)
{
    (void)t;
    fprintf(stderr, "  guard timer fired\n");
    unit_case_failed = 1;
    loop_stop(loop);
}

static void on_quiet(loop_t *loop, loop_timer_t *t)
{
    (void)t;
    loop_stop(loop);
}

static void script(const char *name, const char *body, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    chmod(path, 0755);
}

static void write_file(const char *name, const char *content, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(content, f);
    fclose(f);
}

static int dir_entries(const char *d)
{
    DIR *x = opendir(d);
    int n = 0;
    struct dirent *e;
    while (x && (e = readdir(x)))
        if (e->d_name[0] != '.') n++;
    if (x) closedir(x);
    return n;
}

/* Runs the job until on_done or a cancel (guard 10 s). */
static extract_job_t *run(got_t *g, const char *path, const char *name)
{
    extract_callbacks_t cb = {.ud = g,
                              .on_text = on_text,
                              .on_progress = on_progress,
                              .on_log = on_log,
                              .on_done = on_done};
    char err[256];
    g->job = extract_start(path, name, NULL, &cb, err, sizeof err);
    if (!g->job) return NULL;
    CHECK_EQ_INT(g->done, 0); /* never from inside extract_start */
    loop_timer_t guard = {0};
    loop_timer_start(svc->loop, &guard, 10000, on_guard, NULL);
    loop_run(svc->loop);
    loop_timer_stop(svc->loop, &guard);
    return g->job;
}

static void fake_tools(void)
{
    char p[512];
    /* Page 2 has almost no text layer: it is a scanned page. */
    script("pdftotext",
           "printf 'Page one has plenty of real text.\\f x \\fPage three, also "
           "real text.\\f'\n",
           p, sizeof p);
    snprintf(cfg.pdftotext_cmd, sizeof cfg.pdftotext_cmd, "%s", p);
    /* Records its arguments, writes OUT.png (OUT is the last argument). */
    char body[1024];
    snprintf(body, sizeof body,
             "echo \"$@\" >> %s/pdftoppm.args\nfor a; do last=$a; done\nprintf png > "
             "\"$last.png\"\necho 'Syntax Warning: fake' >&2\n",
             dir);
    script("pdftoppm", body, p, sizeof p);
    snprintf(cfg.pdftoppm_cmd, sizeof cfg.pdftoppm_cmd, "%s", p);
    script("tesseract", "test \"$4\" = fra+eng || exit 9\nprintf 'OCR text of the page\\n\\f'\n", p,
           sizeof p);
    snprintf(cfg.tesseract_cmd, sizeof cfg.tesseract_cmd, "%s", p);
}

static void test_pdf_pages_with_a_scanned_one(void)
{
    fake_tools();
    char pdf[512], args[512];
    write_file("doc.pdf", "%PDF-1.4 fake", pdf, sizeof pdf);
    static got_t g;
    memset(&g, 0, sizeof g);
    CHECK(run(&g, pdf, "doc.pdf") != NULL);
    CHECK_EQ_INT(g.done, 1);
    CHECK_EQ_STR(g.error, "");
    CHECK_EQ_INT(g.pages, 3);
    CHECK_EQ_INT(g.type, EXTRACT_PDF);
    CHECK(!g.out_of_order);
    CHECK_EQ_STR(g.text, "[1]Page one has plenty of real text.[2]OCR text of the page"
                         "[3]Page three, also real text.");
    /* Only page 2 rendered, at ocr_dpi, into a directory under upload_dir. */
    snprintf(args, sizeof args, "%s/pdftoppm.args", dir);
    FILE *f = fopen(args, "r");
    char line[1024] = "";
    CHECK(f && fgets(line, sizeof line, f));
    if (f) fclose(f);
    char want[1024];
    snprintf(want, sizeof want, "-r 123 -png -f 2 -l 2 -singlefile %s %s/up/ocr-", pdf, dir);
    CHECK(strncmp(line, want, strlen(want)) == 0);
    char up[300];
    snprintf(up, sizeof up, "%s/up", dir);
    CHECK_EQ_INT(dir_entries(up), 0); /* the OCR directory is gone */
    CHECK(strstr(g.stages, "rendering 0/1 Rendering page 2 of 3|") != NULL);
    CHECK(strstr(g.stages, "ocr 0/1 OCR page 1 of 1|ocr 1/1 OCR page 1 of 1 done|") != NULL);
    CHECK(strstr(g.logs, "warn: pdftoppm: Syntax Warning: fake\n") != NULL);
    CHECK(strstr(g.logs, "info: pdf: 3 pages, 1 without a text layer") != NULL);
    CHECK(strstr(g.logs, "info: tesseract: exit status 0 after ") != NULL);
    unlink(args);
}

static void test_cancel_during_ocr(void)
{
    fake_tools();
    char p[512], pdf[512];
    script("tesseract", "sleep 30\n", p, sizeof p);
    snprintf(cfg.tesseract_cmd, sizeof cfg.tesseract_cmd, "%s", p);
    write_file("doc.pdf", "%PDF-1.4 fake", pdf, sizeof pdf);
    static got_t g;
    memset(&g, 0, sizeof g);
    g.cancel_at_ocr = 1;
    run(&g, pdf, "doc.pdf");
    CHECK(g.cancelled);
    char up[300];
    snprintf(up, sizeof up, "%s/up", dir);
    CHECK_EQ_INT(dir_entries(up), 0); /* removed at cancel */
    /* Turn the loop a while: no callback comes any more. */
    loop_timer_t t = {0};
    loop_timer_start(svc->loop, &t, 300, on_quiet, NULL);
    loop_run(svc->loop);
    CHECK_EQ_INT(g.done, 0);
    CHECK_EQ_STR(g.text, "[1]Page one has plenty of real text.");
}

static void test_timeout_and_failure(void)
{
    char p[512], img[512];
    write_file("pic.png", "\x89PNG\r\n\x1a\n....", img, sizeof img);
    script("tesseract", "echo 'started' >&2\nexec sleep 30\n", p, sizeof p);
    snprintf(cfg.tesseract_cmd, sizeof cfg.tesseract_cmd, "%s", p);
    cfg.extract_timeout_ms = 300;
    static got_t g;
    memset(&g, 0, sizeof g);
    run(&g, img, "pic.png");
    CHECK_EQ_INT(g.done, 1);
    CHECK_EQ_STR(g.error, "tesseract timed out after 0.3 s");
    CHECK_EQ_INT(g.type, EXTRACT_PNG);
    CHECK(strstr(g.logs, "warn: tesseract: started\n") != NULL);
    cfg.extract_timeout_ms = 5000;

    script("tesseract", "echo 'Error: bad image' >&2\nexit 1\n", p, sizeof p);
    memset(&g, 0, sizeof g);
    run(&g, img, "pic.png");
    CHECK_EQ_STR(g.error, "tesseract failed (exit status 1): Error: bad image");
    CHECK(strstr(g.logs, "error: tesseract failed") != NULL);

    /* Output limit. */
    script("tesseract", "yes 'OCR words'\n", p, sizeof p);
    size_t keep = cfg.extract_max_bytes;
    cfg.extract_max_bytes = 4096;
    memset(&g, 0, sizeof g);
    run(&g, img, "pic.png");
    CHECK_EQ_STR(g.error, "tesseract output over 4096 bytes");
    cfg.extract_max_bytes = keep;
}

static void test_unsupported_and_unreadable(void)
{
    char zip[512];
    write_file("a.docx", "PK\x03\x04rest", zip, sizeof zip);
    static got_t g;
    memset(&g, 0, sizeof g);
    CHECK(run(&g, zip, "a.docx") != NULL);
    CHECK_EQ_INT(g.done, 1);
    CHECK_EQ_STR(g.error, "unsupported file type: application/zip");
    CHECK_EQ_INT(g.type, EXTRACT_UNKNOWN);
    CHECK_EQ_INT(g.pages, 0);
    char err[256] = "", missing[300];
    snprintf(missing, sizeof missing, "%s/none", dir);
    extract_callbacks_t cb = {.on_done = on_done};
    CHECK(extract_start(missing, "none", NULL, &cb, err, sizeof err) == NULL);
    CHECK(strstr(err, "No such file or directory") != NULL);
    CHECK(extract_start(dir, "dir", NULL, &cb, err, sizeof err) == NULL);
    CHECK(strstr(err, "not a regular file") != NULL);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ragws-test-extract-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    config_defaults(&cfg);
    snprintf(cfg.upload_dir, sizeof cfg.upload_dir, "%s/up", dir); /* created on demand */
    snprintf(cfg.ocr_language, sizeof cfg.ocr_language, "fra+eng");
    cfg.ocr_dpi = 123;
    cfg.extract_timeout_ms = 5000;
    *svc = (svc_ctx_t){.loop = loop_new(), .cfg = &cfg};
    RUN(test_pdf_pages_with_a_scanned_one);
    RUN(test_cancel_during_ocr);
    RUN(test_timeout_and_failure);
    RUN(test_unsupported_and_unreadable);
    loop_free(svc->loop);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return UNIT_SUMMARY();
}
