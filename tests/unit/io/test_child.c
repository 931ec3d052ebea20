/* io/child.c against io/child.h: stdout and exit status of real programs,
 * a timeout that kills, the stdout limit, stderr in bounded lines, a kill
 * with no callback after it (and the zombie reaped), a program that does
 * not exist, no inherited descriptors, the group killed with its leader,
 * and many children at once. */
#include "tests/unit/unit.h"
#include "io/child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_LINES 64

typedef struct run {
    char out[65536];
    size_t out_len;
    char lines[MAX_LINES][256];
    int n_lines;
    int exits;
    child_result_t r;
    char error[64];
    int *pending; /* stops the loop at 0 */
    loop_t *loop;
    child_t *self;
    int kill_on_stdout; /* child_kill from inside on_stdout */
} run_t;

static void on_stdout(void *ud, const char *d, size_t n)
{
    run_t *r = ud;
    if (r->out_len + n < sizeof r->out) {
        memcpy(r->out + r->out_len, d, n);
        r->out_len += n;
        r->out[r->out_len] = '\0';
    }
    if (r->kill_on_stdout) {
        child_kill(r->self);
        if (--*r->pending == 0) loop_stop(r->loop);
    }
}

static void on_line(void *ud, const char *line, size_t n)
{
    run_t *r = ud;
    CHECK_EQ_INT(strlen(line), n);
    if (r->n_lines < MAX_LINES) snprintf(r->lines[r->n_lines++], 256, "%s", line);
}

static void on_exit_cb(void *ud, const child_result_t *res)
{
    run_t *r = ud;
    r->exits++;
    r->r = *res;
    snprintf(r->error, sizeof r->error, "%s", res->error ? res->error : "");
    r->r.error = r->error;
    if (--*r->pending == 0) loop_stop(r->loop);
}

static void on_guard(loop_t *loop, loop_timer_t *t)
{
    (void)t;
    fprintf(stderr, "  guard timer: the loop ran too long\n");
    unit_case_failed = 1;
    loop_stop(loop);
}

static child_t *start(loop_t *loop, run_t *r, int *pending, const char *const *argv,
                      const child_opts_t *base)
{
    child_opts_t o = base ? *base : (child_opts_t){0};
    o.argv = argv;
    child_callbacks_t cb = {
        .ud = r, .on_stdout = on_stdout, .on_stderr_line = on_line, .on_exit = on_exit_cb};
    r->pending = pending;
    r->loop = loop;
    char err[256];
    r->self = child_spawn(loop, &o, &cb, err, sizeof err);
    if (!r->self) fprintf(stderr, "  spawn: %s\n", err);
    return r->self;
}

/* Runs the loop until every started child ended (guard: 10 s). */
static void run_loop(loop_t *loop)
{
    loop_timer_t guard = {0};
    loop_timer_start(loop, &guard, 10000, on_guard, NULL);
    loop_run(loop);
    loop_timer_stop(loop, &guard);
}

static void test_echo_and_exit_status(void)
{
    loop_t *loop = loop_new();
    static run_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    int pending = 2;
    const char *echo[] = {"echo", "héllo wörld", NULL};
    const char *fail[] = {"sh", "-c", "echo partial; exit 3", NULL};
    CHECK(start(loop, &a, &pending, echo, NULL) != NULL);
    CHECK(start(loop, &b, &pending, fail, NULL) != NULL);
    CHECK(a.exits == 0); /* never from inside child_spawn */
    run_loop(loop);
    CHECK_EQ_INT(a.exits, 1);
    CHECK_EQ_STR(a.out, "héllo wörld\n");
    CHECK(a.r.exited && a.r.exit_status == 0 && a.r.signal == 0);
    CHECK_EQ_STR(a.error, "");
    CHECK_EQ_INT(a.r.stdout_bytes, strlen("héllo wörld\n"));
    CHECK_EQ_INT(b.exits, 1);
    CHECK_EQ_STR(b.out, "partial\n");
    CHECK(b.r.exited && b.r.exit_status == 3);
    char d[64];
    CHECK_EQ_STR(child_describe(&b.r, d, sizeof d), "exit status 3");
    loop_free(loop);
}

static void test_timeout_kills_the_group(void)
{
    loop_t *loop = loop_new();
    static run_t a;
    memset(&a, 0, sizeof a);
    int pending = 1;
    /* The shell starts a sleep of its own: the whole group must die. */
    const char *argv[] = {"sh", "-c", "sleep 30 & echo $!; wait", NULL};
    child_opts_t o = {.timeout_ms = 300};
    uint64_t t0 = loop_clock_ns();
    CHECK(start(loop, &a, &pending, argv, &o) != NULL);
    run_loop(loop);
    uint64_t ms = (loop_clock_ns() - t0) / 1000000u;
    CHECK_EQ_INT(a.exits, 1);
    CHECK(a.r.timed_out && !a.r.exited && a.r.signal == SIGKILL);
    CHECK_EQ_STR(a.error, "timed out after 0.3 s");
    CHECK(ms >= 290 && ms < 3000);
    /* The grandchild got SIGKILL too: gone, or a zombie until init reaps it. */
    pid_t g = (pid_t)atoi(a.out);
    CHECK(g > 0);
    int alive = 1;
    for (int i = 0; i < 200 && alive; i++) {
        char path[64], st[256] = "";
        snprintf(path, sizeof path, "/proc/%d/stat", (int)g);
        FILE *f = fopen(path, "r");
        if (!f) {
            alive = 0;
            break;
        }
        size_t n = fread(st, 1, sizeof st - 1, f);
        fclose(f);
        st[n] = '\0';
        const char *p = strrchr(st, ')');
        if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
            alive = 0;
        else
            usleep(10000);
    }
    CHECK(!alive);
    loop_free(loop);
}

static void test_output_limit(void)
{
    loop_t *loop = loop_new();
    static run_t a;
    memset(&a, 0, sizeof a);
    int pending = 1;
    const char *argv[] = {"yes", "0123456789", NULL};
    child_opts_t o = {.max_stdout = 50000, .timeout_ms = 5000};
    CHECK(start(loop, &a, &pending, argv, &o) != NULL);
    run_loop(loop);
    CHECK_EQ_INT(a.exits, 1);
    CHECK(a.r.over_limit && !a.r.timed_out);
    CHECK_EQ_STR(a.error, "output over 50000 bytes");
    CHECK_EQ_INT(a.out_len, 50000); /* up to the limit, nothing after */
    CHECK_EQ_INT(a.r.stdout_bytes, 50000);
    CHECK(memcmp(a.out, "0123456789\n0123456789\n", 22) == 0);
    loop_free(loop);
}

static void test_stderr_lines_bounded(void)
{
    loop_t *loop = loop_new();
    static run_t a;
    memset(&a, 0, sizeof a);
    int pending = 1;
    /* Two short lines (one with CRLF), a blank one, one of 100 bytes (cut
     * at 16), then 10 more lines of which only some fit; no final newline. */
    const char *argv[] = {"sh", "-c",
                          "echo 'première ligne' >&2; printf 'two\\r\\n\\n' >&2;"
                          " printf '%0100d\\n' 7 >&2; for i in 1 2 3 4 5 6 7 8 9 10; do"
                          " echo line$i >&2; done; printf tail >&2; echo out",
                          NULL};
    child_opts_t o = {.stderr_line_max = 16, .stderr_max_lines = 6};
    CHECK(start(loop, &a, &pending, argv, &o) != NULL);
    run_loop(loop);
    CHECK_EQ_INT(a.exits, 1);
    CHECK(a.r.exited && a.r.exit_status == 0);
    CHECK_EQ_STR(a.out, "out\n");
    CHECK_EQ_INT(a.n_lines, 7);
    CHECK_EQ_STR(a.lines[0], "première ligne");
    CHECK_EQ_STR(a.lines[1], "two");
    CHECK_EQ_STR(a.lines[2], "0000000000000000");
    CHECK_EQ_STR(a.lines[3], "line1");
    CHECK_EQ_STR(a.lines[5], "line3");
    /* line4..line10 and "tail": 8 dropped */
    CHECK_EQ_STR(a.lines[6], "(8 more stderr lines dropped)");
    loop_free(loop);
}

static void on_kill_timer(loop_t *loop, loop_timer_t *t)
{
    run_t *r = t->data;
    child_kill(r->self);
    if (--*r->pending == 0) loop_stop(loop);
}

static void on_tick(loop_t *loop, loop_timer_t *t)
{
    (void)t;
    loop_stop(loop);
}

static int reaped(pid_t pid)
{
    /* Our child: once reaped, waitpid says ECHILD. */
    int st;
    return waitpid(pid, &st, WNOHANG) < 0 && errno == ECHILD;
}

static void test_kill_no_callback_and_reaped(void)
{
    loop_t *loop = loop_new();
    static run_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    int pending = 2;
    const char *sleeper[] = {"sleep", "30", NULL};
    const char *chatty[] = {"sh", "-c", "echo first; sleep 30", NULL};
    CHECK(start(loop, &a, &pending, sleeper, NULL) != NULL);
    b.kill_on_stdout = 1; /* killed from inside its own callback */
    CHECK(start(loop, &b, &pending, chatty, NULL) != NULL);
    pid_t pa = child_pid(a.self), pb = child_pid(b.self);
    loop_timer_t kt = {0};
    loop_timer_start(loop, &kt, 100, on_kill_timer, &a);
    run_loop(loop);
    CHECK_EQ_INT(a.exits, 0);
    CHECK_EQ_INT(b.exits, 0);
    CHECK_EQ_STR(b.out, "first\n");
    /* Keep the loop turning briefly: the pidfds fire and the zombies go. */
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        loop_timer_t tick = {0};
        loop_timer_start(loop, &tick, 10, on_tick, NULL);
        loop_run(loop);
        gone = reaped(pa) && reaped(pb) && child_live() == 0;
    }
    CHECK(gone);
    CHECK_EQ_INT(child_live(), 0);
    CHECK_EQ_INT(a.exits, 0);
    CHECK_EQ_INT(b.exits, 0);
    loop_free(loop);
}

static void test_missing_program_and_bad_args(void)
{
    loop_t *loop = loop_new();
    char err[256] = "";
    const char *argv[] = {"/nonexistent/ragws-no-such-tool", NULL};
    child_opts_t o = {.argv = argv};
    child_callbacks_t cb = {.on_exit = on_exit_cb};
    CHECK(child_spawn(loop, &o, &cb, err, sizeof err) == NULL);
    CHECK_EQ_STR(err, "cannot run /nonexistent/ragws-no-such-tool: No such file or directory");
    const char *none[] = {NULL};
    o.argv = none;
    CHECK(child_spawn(loop, &o, &cb, err, sizeof err) == NULL);
    loop_free(loop);
}

static void test_no_inherited_fds(void)
{
    loop_t *loop = loop_new();
    static run_t a;
    memset(&a, 0, sizeof a);
    int pending = 1;
    /* A descriptor without O_CLOEXEC, like a careless socket would be. */
    int leak = open("/dev/null", O_RDONLY);
    CHECK(leak >= 3);
    const char *argv[] = {"sh", "-c", "read x; echo stdin=$?; exec ls /proc/self/fd", NULL};
    CHECK(start(loop, &a, &pending, argv, NULL) != NULL);
    run_loop(loop);
    /* 0 1 2, and 3: the directory ls reads; never ours. stdin is
     * /dev/null: read hits EOF. */
    CHECK_EQ_STR(a.out, "stdin=1\n0\n1\n2\n3\n");
    close(leak);
    loop_free(loop);
}

#define MANY 40

static void test_many_children(void)
{
    loop_t *loop = loop_new();
    static run_t r[MANY];
    memset(r, 0, sizeof r);
    int pending = MANY;
    char args[MANY][64];
    for (int i = 0; i < MANY; i++) {
        snprintf(args[i], sizeof args[i], "echo child %d; echo err%d >&2", i, i);
        const char *argv[] = {"sh", "-c", args[i], NULL};
        CHECK(start(loop, &r[i], &pending, argv, NULL) != NULL);
    }
    CHECK_EQ_INT(child_live(), MANY);
    run_loop(loop);
    CHECK_EQ_INT(pending, 0);
    CHECK_EQ_INT(child_live(), 0);
    for (int i = 0; i < MANY; i++) {
        char want[32];
        snprintf(want, sizeof want, "child %d\n", i);
        CHECK_EQ_INT(r[i].exits, 1);
        CHECK_EQ_STR(r[i].out, want);
        snprintf(want, sizeof want, "err%d", i);
        CHECK_EQ_INT(r[i].n_lines, 1);
        CHECK_EQ_STR(r[i].lines[0], want);
    }
    loop_free(loop);
}

/* A child runs 10 nice levels below its parent (capped at 19). */
static void test_child_is_niced(void)
{
    loop_t *loop = loop_new();
    static run_t a;
    memset(&a, 0, sizeof a);
    int pending = 1;
    /* Field 19 of /proc/self/stat is the nice value (cut reads its own). */
    const char *argv[] = {"sh", "-c", "exec cut -d' ' -f19 /proc/self/stat", NULL};
    CHECK(start(loop, &a, &pending, argv, NULL) != NULL);
    run_loop(loop);
    errno = 0;
    int mine = getpriority(PRIO_PROCESS, 0);
    int want = mine + 10 > 19 ? 19 : mine + 10;
    char expect[16];
    snprintf(expect, sizeof expect, "%d\n", want);
    CHECK_EQ_STR(a.out, expect);
    loop_free(loop);
}

int main(void)
{
    RUN(test_echo_and_exit_status);
    RUN(test_timeout_kills_the_group);
    RUN(test_output_limit);
    RUN(test_stderr_lines_bounded);
    RUN(test_kill_no_callback_and_reaped);
    RUN(test_missing_program_and_bad_args);
    RUN(test_no_inherited_fds);
    RUN(test_many_children);
    RUN(test_child_is_niced);
    return UNIT_SUMMARY();
}
