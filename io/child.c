/* Child processes on the loop (see io/child.h): fork + exec into a new
 * process group with fds >= 3 closed, killed when the worker dies, two pipes and a pidfd watched by
 * the loop, a timer for the timeout. */
#include "io/child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_NICE       10 /* added to the worker's nice value */
#define READ_CHUNK       (16 * 1024)
#define READS_PER_EVENT  8 /* then back to the loop; level-triggered, so it comes back */
#define DRAIN_MAX        (4u * 1024 * 1024) /* read after exit; a pipe holds far less */
#define LINE_MAX_DEFAULT 1024
#define LINES_DEFAULT    200

struct child {
    loop_t *loop;
    pid_t pid;
    int pidfd, fd_out, fd_err;
    loop_watch_t w_out, w_err, w_pid;
    loop_timer_t timer;
    child_callbacks_t cb;
    uint32_t timeout_ms;
    size_t max_stdout, line_max;
    uint32_t max_lines;
    uint64_t start_ns;
    size_t out_bytes;
    int timed_out, over_limit;
    int cancelled; /* child_kill: no callback any more */
    /* stderr line assembly */
    char *line;
    size_t line_len;
    int line_cut; /* the current line was cut: skip to its end */
    uint32_t lines, dropped;
    char error[64];
    child_t *prev, *next; /* the live list */
};

/* Spawned and not reaped yet: counted for child_live(), and listed so that
 * a killed child a process leaves behind at exit is still reachable
 * memory, not a leak (its zombie then goes to init). */
static size_t live;
static child_t *live_list;

static void live_add(child_t *c)
{
    c->next = live_list;
    if (live_list) live_list->prev = c;
    live_list = c;
    live++;
}

static void live_remove(child_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        live_list = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    live--;
}

static int fail(char *err, size_t errlen, const char *what, int e)
{
    if (err && errlen) snprintf(err, errlen, "%s: %s", what, strerror(e));
    return -1;
}

static void kill_group(child_t *c)
{
    /* The leader is not reaped yet (zombie at worst), so its pid still
     * names its group: no other process can have taken it. */
    if (kill(-c->pid, SIGKILL) < 0) kill(c->pid, SIGKILL);
}

static void close_watch(child_t *c, loop_watch_t *w, int *fd)
{
    if (*fd < 0) return;
    loop_watch_del(c->loop, w);
    close(*fd);
    *fd = -1;
}

static void free_child(void *p)
{
    child_t *c = p;
    free(c->line);
    free(c);
}

/* ---- stdout ---- */

/* Hands over data within the limit; past it, kills the child. 0, or -1
 * when the caller must stop (limit hit or cancelled in the callback). */
static int deliver_stdout(child_t *c, const char *data, size_t n)
{
    int over = 0;
    if (c->max_stdout && c->out_bytes + n > c->max_stdout) {
        n = c->max_stdout - c->out_bytes;
        over = 1;
    }
    c->out_bytes += n;
    if (n && c->cb.on_stdout) c->cb.on_stdout(c->cb.ud, data, n);
    if (c->cancelled) return -1;
    if (over) {
        c->over_limit = 1;
        snprintf(c->error, sizeof c->error, "output over %zu bytes", c->max_stdout);
        kill_group(c);
        close_watch(c, &c->w_out, &c->fd_out);
        return -1;
    }
    return 0;
}

/* ---- stderr ---- */

static void emit_line(child_t *c)
{
    size_t n = c->line_len;
    while (n && (c->line[n - 1] == '\r' || c->line[n - 1] == ' ')) n--;
    c->line_len = 0;
    if (n == 0) return;
    if (c->lines >= c->max_lines) {
        c->dropped++;
        return;
    }
    c->lines++;
    c->line[n] = '\0';
    if (c->cb.on_stderr_line) c->cb.on_stderr_line(c->cb.ud, c->line, n);
}

/* Splits data into lines; -1 when cancelled in a callback. */
static int deliver_stderr(child_t *c, const char *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = data[i];
        if (ch == '\n') {
            if (!c->line_cut) emit_line(c);
            c->line_cut = 0;
            c->line_len = 0;
        } else if (!c->line_cut) {
            c->line[c->line_len++] = ch;
            if (c->line_len == c->line_max) { /* too long: what fits, then skip the rest */
                emit_line(c);
                c->line_cut = 1;
            }
        }
        if (c->cancelled) return -1;
    }
    return 0;
}

/* Reads fd until EAGAIN, EOF (closes it) or max bytes; -1 when the caller
 * must stop. */
static int read_pipe(child_t *c, int is_out, size_t max)
{
    char buf[READ_CHUNK];
    int *fd = is_out ? &c->fd_out : &c->fd_err;
    for (size_t got = 0; *fd >= 0 && got < max;) {
        ssize_t r = read(*fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) return 0;
        if (r <= 0) { /* EOF or a read error: this pipe is done */
            close_watch(c, is_out ? &c->w_out : &c->w_err, fd);
            return 0;
        }
        got += (size_t)r;
        if ((is_out ? deliver_stdout(c, buf, (size_t)r) : deliver_stderr(c, buf, (size_t)r)) < 0)
            return -1;
    }
    return 0;
}

static void on_out(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)loop;
    (void)events;
    read_pipe(w->data, 1, (size_t)READ_CHUNK * READS_PER_EVENT);
}

static void on_err(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)loop;
    (void)events;
    read_pipe(w->data, 0, (size_t)READ_CHUNK * READS_PER_EVENT);
}

/* ---- the end ---- */

static void on_timeout(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    child_t *c = t->data;
    c->timed_out = 1;
    snprintf(c->error, sizeof c->error, "timed out after %g s", c->timeout_ms / 1000.0);
    kill_group(c);
}

/* The process ended: drain what it wrote, end its group, reap it, report. */
static void on_pid(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)events;
    child_t *c = w->data;
    child_result_t r = {0};
    /* Whatever it started dies with it (it may hold our pipes open). */
    kill_group(c);
    if (!c->cancelled && read_pipe(c, 1, DRAIN_MAX) == 0 && !c->cancelled)
        read_pipe(c, 0, DRAIN_MAX);
    if (!c->cancelled && c->line_len && !c->line_cut) emit_line(c);
    if (!c->cancelled && c->dropped && c->cb.on_stderr_line) {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "(%u more stderr lines dropped)", c->dropped);
        c->cb.on_stderr_line(c->cb.ud, msg, (size_t)n);
    }
    siginfo_t si = {0};
    int rc;
    do rc = waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED | WNOHANG);
    while (rc < 0 && errno == EINTR);
    if (rc == 0 && si.si_pid == 0) return; /* not ended after all: wait for the next wake-up */
    close_watch(c, &c->w_out, &c->fd_out);
    close_watch(c, &c->w_err, &c->fd_err);
    close_watch(c, &c->w_pid, &c->pidfd);
    loop_timer_stop(loop, &c->timer);
    if (rc == 0 && si.si_code == CLD_EXITED) {
        r.exited = 1;
        r.exit_status = si.si_status;
    } else if (rc == 0) {
        r.signal = si.si_status;
    }
    r.timed_out = c->timed_out;
    r.over_limit = c->over_limit;
    r.error = c->error[0] ? c->error : NULL;
    r.elapsed_ms = (loop_clock_ns() - c->start_ns) / 1000000u;
    r.stdout_bytes = c->out_bytes;
    live_remove(c);
    int report = !c->cancelled;
    c->cancelled = 1; /* from here on the handle is gone */
    if (report) c->cb.on_exit(c->cb.ud, &r);
    loop_free_later(loop, c, free_child);
}

/* ---- start ---- */

static int make_pipe(int p[2], char *err, size_t errlen)
{
    if (pipe2(p, O_CLOEXEC) < 0) return fail(err, errlen, "cannot create a pipe", errno);
    /* Our end only: the child's end stays blocking (programs expect it). */
    if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0 || p[0] < 3 || p[1] < 3) {
        int e = p[0] < 3 || p[1] < 3 ? EBADF : errno; /* stdio closed: fds would collide */
        close(p[0]);
        close(p[1]);
        return fail(err, errlen, "cannot create a pipe", e);
    }
    return 0;
}

/* In the forked child: only what exec needs, then exec; errno on failure
 * goes back through errpipe (close-on-exec, so it closes on success). The
 * child gets SIGKILL when the worker dies (PR_SET_PDEATHSIG), so a worker
 * killed with -9 leaves no extractor running: posix_spawn cannot ask for
 * that. */
static void exec_child(const char *const *argv, int out_w, int err_w, int errpipe, pid_t parent)
{
    sigset_t none;
    sigemptyset(&none);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int null = open("/dev/null", O_RDONLY);
    /* Extractors are batch work: below the worker, so serving keeps the CPU
     * (best effort; a failure here is no reason not to run). */
    errno = 0;
    if (nice(CHILD_NICE) == -1 && errno) errno = 0;
    if (setpgid(0, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent ||
        null < 0 || dup2(null, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0 ||
        syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
        goto fail;
    execvp(argv[0], (char *const *)argv);
fail:;
    int e = errno ? errno : EINVAL;
    ssize_t n = write(errpipe, &e, sizeof e);
    (void)n;
    _exit(127);
}

/* fork + exec; returns 0, or the errno of what failed (exec errors too:
 * the read waits only until the child has exec'd or failed, as
 * posix_spawn's vfork does). */
static int spawn(const char *const *argv, int out_w, int err_w, pid_t *pid)
{
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) < 0) return errno;
    pid_t parent = getpid();
    pid_t p = fork();
    if (p < 0) {
        int e = errno;
        close(ep[0]);
        close(ep[1]);
        return e;
    }
    if (p == 0) {
        close(ep[0]);
        exec_child(argv, out_w, err_w, ep[1], parent);
    }
    close(ep[1]);
    int e = 0;
    ssize_t n;
    do n = read(ep[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n == (ssize_t)sizeof e) {
        waitpid(p, NULL, 0); /* it has exited (_exit right after the write) */
        return e;
    }
    *pid = p;
    return 0;
}

static int watch_all(child_t *c)
{
    return loop_watch_add(c->loop, &c->w_out, c->fd_out, EPOLLIN, on_out, c) < 0 ||
                   loop_watch_add(c->loop, &c->w_err, c->fd_err, EPOLLIN, on_err, c) < 0 ||
                   loop_watch_add(c->loop, &c->w_pid, c->pidfd, EPOLLIN, on_pid, c) < 0
               ? -1
               : 0;
}

static child_t *child_new(loop_t *loop, const child_opts_t *o, const child_callbacks_t *cb)
{
    child_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->line_max = o->stderr_line_max ? o->stderr_line_max : LINE_MAX_DEFAULT;
    if (!(c->line = malloc(c->line_max + 1))) {
        free(c);
        return NULL;
    }
    c->loop = loop;
    c->cb = *cb;
    c->timeout_ms = o->timeout_ms;
    c->max_stdout = o->max_stdout;
    c->max_lines = o->stderr_max_lines ? o->stderr_max_lines : LINES_DEFAULT;
    c->pidfd = c->fd_out = c->fd_err = -1;
    c->w_out.fd = c->w_err.fd = c->w_pid.fd = -1;
    return c;
}

child_t *child_spawn(loop_t *loop, const child_opts_t *o, const child_callbacks_t *cb, char *err,
                     size_t errlen)
{
    int po[2], pe[2];
    if (!o->argv || !o->argv[0] || !cb->on_exit) {
        fail(err, errlen, "cannot start a child", EINVAL);
        return NULL;
    }
    child_t *c = child_new(loop, o, cb);
    if (!c) {
        fail(err, errlen, "cannot start a child", ENOMEM);
        return NULL;
    }
    if (make_pipe(po, err, errlen) < 0) goto fail_alloc;
    if (make_pipe(pe, err, errlen) < 0) goto fail_out;
    c->start_ns = loop_clock_ns();
    int rc = spawn(o->argv, po[1], pe[1], &c->pid);
    close(po[1]);
    close(pe[1]);
    c->fd_out = po[0];
    c->fd_err = pe[0];
    if (rc != 0) {
        char what[256];
        snprintf(what, sizeof what, "cannot run %s", o->argv[0]);
        fail(err, errlen, what, rc);
        goto fail_fds;
    }
    c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    if (c->pidfd < 0 || fcntl(c->pidfd, F_SETFD, FD_CLOEXEC) < 0 || watch_all(c) < 0) {
        fail(err, errlen, "cannot watch a child", errno);
        kill_group(c);
        /* Reaped when possible; a pidfd we could not open cannot help. */
        if (c->pidfd >= 0) waitid(P_PIDFD, (id_t)c->pidfd, &(siginfo_t){0}, WEXITED | WNOHANG);
        goto fail_fds;
    }
    if (c->timeout_ms) loop_timer_start(loop, &c->timer, c->timeout_ms, on_timeout, c);
    live_add(c);
    return c;
fail_fds:
    close_watch(c, &c->w_out, &c->fd_out);
    close_watch(c, &c->w_err, &c->fd_err);
    close_watch(c, &c->w_pid, &c->pidfd);
    free_child(c);
    return NULL;
fail_out:
    close(po[0]);
    close(po[1]);
fail_alloc:
    free_child(c);
    return NULL;
}

void child_kill(child_t *c)
{
    if (!c || c->cancelled) return;
    c->cancelled = 1;
    kill_group(c);
    close_watch(c, &c->w_out, &c->fd_out);
    close_watch(c, &c->w_err, &c->fd_err);
    loop_timer_stop(c->loop, &c->timer);
    /* The pidfd watch stays: on_pid reaps the zombie and frees c. */
}

pid_t child_pid(const child_t *c) { return c->pid; }

size_t child_live(void) { return live; }

const char *child_describe(const child_result_t *r, char *buf, size_t len)
{
    if (r->exited)
        snprintf(buf, len, "exit status %d", r->exit_status);
    else if (r->signal)
        snprintf(buf, len, "killed by signal %d (%s)", r->signal, strsignal(r->signal));
    else
        snprintf(buf, len, "ended, status unknown");
    return buf;
}
