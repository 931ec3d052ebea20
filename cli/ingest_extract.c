/* `ragws ingest`'s extraction on a loop of its own (cli/ingest_extract.h). */
#include "cli/ingest_extract.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/loop.h"
#include "io/child.h"
#include "worker/svc/svc.h"

/* One extraction in progress. */
typedef struct run {
    ingest_text_t *t;
    ingest_progress_fn fn;
    void *ud;
    uint32_t page; /* the page the text is at */
    int done;
    char error[512];
} run_t;

static struct {
    loop_t *loop;
    loop_watch_t sig_watch;
    int sig_fd;
    int interrupted;
    extract_job_t *job; /* running, or NULL */
    run_t *run;
} X = {.sig_fd = -1};

static void on_text(void *ud, uint32_t page, const char *text, size_t len)
{
    run_t *r = ud;
    ingest_text_t *t = r->t;
    if (r->error[0]) return;
    int rc = 0;
    while (rc == 0 && r->page < page) { /* form feeds up to this page */
        rc = buf_append_char(&t->text, '\f');
        r->page++;
    }
    if (rc == 0) rc = buf_append(&t->text, text, len);
    if (rc < 0) {
        snprintf(r->error, sizeof r->error, "text over %zu bytes (ingest.max_extract_bytes)",
                 t->text.max);
        extract_cancel(X.job);
        X.job = NULL;
        r->done = 1;
        loop_stop(X.loop);
    }
}

static void on_progress(void *ud, const char *stage, uint32_t done, uint32_t total,
                        const char *message)
{
    run_t *r = ud;
    if (r->fn) r->fn(r->ud, stage, done, total, message);
}

static void on_log(void *ud, const char *level, const char *line)
{
    run_t *r = ud;
    ingest_text_t *t = r->t;
    if (strcmp(level, "warn") != 0) return;
    if (t->n_tail == INGEST_LOG_TAIL) {
        memmove(t->tail[0], t->tail[1], sizeof t->tail[0] * (INGEST_LOG_TAIL - 1));
        t->n_tail--;
    }
    snprintf(t->tail[t->n_tail++], sizeof t->tail[0], "%s", line);
}

static void on_done(void *ud, const char *error, uint32_t pages, enum extract_type type)
{
    run_t *r = ud;
    X.job = NULL;
    r->done = 1;
    r->t->pages = pages;
    r->t->type = type;
    if (error && !r->error[0]) snprintf(r->error, sizeof r->error, "%s", error);
    loop_stop(X.loop);
}

static void on_signal(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)events;
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof si) == (ssize_t)sizeof si) X.interrupted = 1;
    if (!X.interrupted) return;
    if (X.job) extract_cancel(X.job); /* kills its children */
    X.job = NULL;
    if (X.run) X.run->done = 1;
    loop_stop(loop);
}

int ingest_extract_init(const ragws_config_t *cfg, char *err, size_t errlen)
{
    if (!(X.loop = loop_new())) {
        snprintf(err, errlen, "cannot create an event loop");
        return -1;
    }
    *svc = (svc_ctx_t){.loop = X.loop, .cfg = cfg, .slot_idx = -1};
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    X.sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (X.sig_fd >= 0) loop_watch_add(X.loop, &X.sig_watch, X.sig_fd, EPOLLIN, on_signal, NULL);
    return 0;
}

static void on_tick(loop_t *loop, loop_timer_t *t)
{
    (void)t;
    loop_stop(loop);
}

void ingest_extract_shutdown(void)
{
    /* Killed extractors: their exit is reaped on the loop (bounded wait). */
    for (int i = 0; i < 100 && child_live() > 0; i++) {
        loop_timer_t tick = {0};
        loop_timer_start(X.loop, &tick, 20, on_tick, NULL);
        loop_run(X.loop);
        loop_timer_stop(X.loop, &tick);
    }
    if (X.sig_fd >= 0) {
        loop_watch_del(X.loop, &X.sig_watch);
        close(X.sig_fd);
        X.sig_fd = -1;
    }
    loop_free(X.loop);
    X.loop = NULL;
}

int ingest_interrupted(void) { return X.interrupted; }

int ingest_extract(const char *path, ingest_text_t *t, ingest_progress_fn fn, void *ud, char *err,
                   size_t errlen)
{
    const char *slash = strrchr(path, '/');
    memset(t, 0, sizeof *t);
    t->text = (buf_t)BUF_INIT(svc->cfg->extract_max_bytes);
    if (X.interrupted) return 1;
    run_t r = {.t = t, .fn = fn, .ud = ud, .page = 1};
    extract_callbacks_t cb = {.ud = &r,
                              .on_text = on_text,
                              .on_progress = on_progress,
                              .on_log = on_log,
                              .on_done = on_done};
    if (!(X.job = extract_start(path, slash ? slash + 1 : path, NULL, &cb, err, errlen))) return -1;
    X.run = &r;
    while (!r.done) loop_run(X.loop);
    X.run = NULL;
    if (X.interrupted) return 1;
    if (r.error[0]) {
        snprintf(err, errlen, "%s", r.error);
        return -1;
    }
    return 0;
}

void ingest_text_free(ingest_text_t *t) { buf_free(&t->text); }
