/* Child processes watched by the event loop (base/loop.h): a program run
 * from an argv (no shell), its stdout handed over in pieces, its stderr in
 * lines, its end reported once. Nothing here blocks or waits.
 *
 * The child runs with stdin on /dev/null, stdout and stderr on pipes (the
 * parent's ends non-blocking), in a process group of its own (so a kill
 * reaches whatever it started), with the default signal dispositions and
 * an empty signal mask, and with no other descriptor open: every fd >= 3
 * is closed in the child, so a worker's client sockets and listeners never
 * leak into it. It gets SIGKILL when the process that started it dies
 * (PR_SET_PDEATHSIG): a worker killed with -9 leaves no extractor behind
 * (its lease lapses and another worker runs the task again). It runs 10
 * nice levels below its parent: extraction is batch work and must not take
 * the CPU from serving. Its exit is watched through a pidfd (pidfd_open(2)) and
 * reaped with waitid(P_PIDFD, WNOHANG): no SIGCHLD is needed, so any
 * process may use this, whoever owns its signals.
 *
 * Limits: a timeout (SIGKILL to the group, reported as "timed out after N
 * s"), a bound on stdout bytes (SIGKILL, "output over N bytes": what came
 * before the limit was delivered, nothing after), and stderr lines cut at
 * stderr_line_max bytes, at most stderr_max_lines of them (the rest are
 * counted, and one last line says how many were dropped).
 *
 * Ownership and callbacks: child_spawn returns a handle owned by the
 * caller until on_exit. on_exit runs exactly once (never from inside
 * child_spawn), after the process has ended and both pipes are drained:
 * every on_stdout and on_stderr_line comes before it. After on_exit the
 * handle is gone (it frees itself). child_kill ends the child at once
 * (SIGKILL to its group) and the caller's use of the handle: no callback
 * runs after it, not even on_exit; the zombie is still reaped when its
 * pidfd fires (the memory lives until then). Callbacks may call
 * child_kill on their own child (and must then return without touching
 * it). The argv strings and options are copied by child_spawn. */
#ifndef RAGWS_IO_CHILD_H
#define RAGWS_IO_CHILD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/loop.h"

typedef struct child child_t;

typedef struct child_opts {
    const char *const *argv;   /* argv[0] is looked up in PATH; NULL-terminated */
    uint32_t timeout_ms;       /* 0: none */
    size_t max_stdout;         /* 0: none */
    size_t stderr_line_max;    /* bytes per stderr line (0: 1024) */
    uint32_t stderr_max_lines; /* stderr lines delivered (0: 200) */
} child_opts_t;

/* How it ended. error is NULL when the program ran to its own end (any
 * exit status, or a signal it did not get from us), else "timed out after
 * N s" or "output over N bytes". */
typedef struct child_result {
    int exited;      /* 1: exit_status is valid */
    int exit_status; /* 0..255 */
    int signal;      /* the signal that ended it, else 0 */
    int timed_out;
    int over_limit;
    const char *error;
    uint64_t elapsed_ms;
    size_t stdout_bytes; /* delivered to on_stdout */
} child_result_t;

typedef struct child_callbacks {
    void *ud;
    void (*on_stdout)(void *ud, const char *data, size_t len); /* may be NULL */
    void (*on_stderr_line)(void *ud, const char *line,
                           size_t len); /* NUL-terminated; may be NULL */
    void (*on_exit)(void *ud, const child_result_t *r);
} child_callbacks_t;

/* Starts argv. NULL with err filled when it could not be started (no such
 * program, no pipes, no pidfd); then no callback runs. */
child_t *child_spawn(loop_t *loop, const child_opts_t *o, const child_callbacks_t *cb, char *err,
                     size_t errlen);
void child_kill(child_t *c);
pid_t child_pid(const child_t *c);

/* Children of this process not reaped yet (killed ones included). A
 * program about to exit may turn its loop until this is 0; if it does not,
 * a killed child's handle stays reachable (no leak report) and its zombie
 * goes to init when the process ends. */
size_t child_live(void);

/* "exit status 2", "killed by signal 9 (Killed)" of r, into buf. */
const char *child_describe(const child_result_t *r, char *buf, size_t len);

#endif
