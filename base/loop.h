/* The event loop: epoll for fds, a binary heap for timers, and a hook run
 * before each sleep (where connections flush their pending output in one
 * writev each). Single-threaded; callbacks must never block.
 *
 * Ownership: watches and timers are embedded in their owner's struct. An
 * owner that goes away during a callback must not free itself at once
 * (later events of the same epoll batch may point at it): it unregisters
 * and hands its memory to loop_free_later(), freed after the batch. */
#ifndef RAGWS_WORKER_LOOP_H
#define RAGWS_WORKER_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

typedef struct loop loop_t;
typedef struct loop_watch loop_watch_t;
typedef struct loop_timer loop_timer_t;

typedef void (*loop_io_cb)(loop_t *loop, loop_watch_t *w, uint32_t events);
typedef void (*loop_timer_cb)(loop_t *loop, loop_timer_t *t);
typedef void (*loop_hook_cb)(loop_t *loop, void *data);

struct loop_watch {
    int fd;
    uint32_t events; /* EPOLLIN | EPOLLOUT | EPOLLET ... */
    loop_io_cb cb;
    void *data;
};

struct loop_timer {
    uint64_t due_ms;
    size_t heap_idx; /* 0 = not armed; else index + 1 */
    loop_timer_cb cb;
    void *data;
};

loop_t *loop_new(void);
void loop_free(loop_t *loop);

int loop_watch_add(loop_t *loop, loop_watch_t *w, int fd, uint32_t events, loop_io_cb cb,
                   void *data);
int loop_watch_mod(loop_t *loop, loop_watch_t *w, uint32_t events);
void loop_watch_del(loop_t *loop, loop_watch_t *w);

/* (Re)arm a timer to fire once after delay_ms. */
void loop_timer_start(loop_t *loop, loop_timer_t *t, uint64_t delay_ms, loop_timer_cb cb,
                      void *data);
void loop_timer_stop(loop_t *loop, loop_timer_t *t);
static inline int loop_timer_armed(const loop_timer_t *t) { return t->heap_idx != 0; }

/* Called once per iteration, after events and timers, before epoll_wait. */
void loop_set_before_sleep(loop_t *loop, loop_hook_cb cb, void *data);

/* free_fn(ptr) after the current iteration (events, timers, before-sleep hook). */
void loop_free_later(loop_t *loop, void *ptr, void (*free_fn)(void *));

/* Monotonic milliseconds, cached at the start of each iteration. */
uint64_t loop_now_ms(loop_t *loop);
/* Fresh monotonic clock, nanoseconds. */
uint64_t loop_clock_ns(void);

/* The epoll fd (a forked child closes its parent's). */
int loop_epoll_fd(const loop_t *loop);

void loop_run(loop_t *loop);
void loop_stop(loop_t *loop);

#endif
