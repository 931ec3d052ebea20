#include "base/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

#define LOOP_MAX_EVENTS 256

typedef struct deferred_free {
    void *ptr;
    void (*fn)(void *);
} deferred_free_t;

struct loop {
    int epfd;
    int stop;
    uint64_t now_ms;
    loop_timer_t **heap; /* min-heap on due_ms */
    size_t heap_len, heap_cap;
    deferred_free_t *frees;
    size_t frees_len, frees_cap;
    loop_hook_cb before_sleep;
    void *before_sleep_data;
};

uint64_t loop_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t loop_now_ms(loop_t *loop) { return loop->now_ms; }

loop_t *loop_new(void)
{
    loop_t *loop = calloc(1, sizeof *loop);
    if (!loop) return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        free(loop);
        return NULL;
    }
    loop->now_ms = loop_clock_ns() / 1000000;
    return loop;
}

static void run_deferred_frees(loop_t *loop)
{
    /* A free function may itself defer more frees: loop until empty. */
    while (loop->frees_len) {
        deferred_free_t d = loop->frees[--loop->frees_len];
        d.fn(d.ptr);
    }
}

void loop_free(loop_t *loop)
{
    if (!loop) return;
    run_deferred_frees(loop);
    close(loop->epfd);
    free(loop->heap);
    free(loop->frees);
    free(loop);
}

int loop_watch_add(loop_t *loop, loop_watch_t *w, int fd, uint32_t events, loop_io_cb cb,
                   void *data)
{
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->data = data;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int loop_watch_mod(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    if (w->events == events) return 0;
    w->events = events;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void loop_watch_del(loop_t *loop, loop_watch_t *w)
{
    if (w->fd >= 0) epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    /* A later event of this batch may still carry w: make it a no-op. */
    w->cb = NULL;
}

/* ---- timers: binary min-heap; heap_idx is 1-based so 0 means idle ---- */

static void heap_set(loop_t *loop, size_t i, loop_timer_t *t)
{
    loop->heap[i] = t;
    t->heap_idx = i + 1;
}

static void heap_up(loop_t *loop, size_t i)
{
    loop_timer_t *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->due_ms <= t->due_ms) break;
        heap_set(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_set(loop, i, t);
}

static void heap_down(loop_t *loop, size_t i)
{
    loop_timer_t *t = loop->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        uint64_t best = t->due_ms;
        if (l < loop->heap_len && loop->heap[l]->due_ms < best) {
            m = l;
            best = loop->heap[l]->due_ms;
        }
        if (r < loop->heap_len && loop->heap[r]->due_ms < best) m = r;
        if (m == i) break;
        heap_set(loop, i, loop->heap[m]);
        i = m;
    }
    heap_set(loop, i, t);
}

void loop_timer_stop(loop_t *loop, loop_timer_t *t)
{
    if (!t->heap_idx) return;
    size_t i = t->heap_idx - 1;
    t->heap_idx = 0;
    loop->heap_len--;
    if (i == loop->heap_len) return;
    heap_set(loop, i, loop->heap[loop->heap_len]);
    heap_up(loop, i);
    heap_down(loop, loop->heap[i]->heap_idx - 1);
}

void loop_timer_start(loop_t *loop, loop_timer_t *t, uint64_t delay_ms, loop_timer_cb cb,
                      void *data)
{
    loop_timer_stop(loop, t);
    if (loop->heap_len == loop->heap_cap) {
        size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        loop_timer_t **h = realloc(loop->heap, cap * sizeof *h);
        if (!h) {
            log_error("timer heap: out of memory");
            abort(); /* a lost timer would leak a connection forever */
        }
        loop->heap = h;
        loop->heap_cap = cap;
    }
    t->cb = cb;
    t->data = data;
    t->due_ms = loop_clock_ns() / 1000000 + delay_ms;
    loop->heap[loop->heap_len] = t;
    t->heap_idx = ++loop->heap_len;
    heap_up(loop, loop->heap_len - 1);
}

static void run_timers(loop_t *loop)
{
    /* Bounded: timers re-armed from their callback with delay 0 wait for
     * the next iteration, so IO is never starved. */
    size_t budget = loop->heap_len;
    while (loop->heap_len && budget--) {
        loop_timer_t *t = loop->heap[0];
        if (t->due_ms > loop->now_ms) break;
        loop_timer_stop(loop, t);
        t->cb(loop, t);
    }
}

void loop_set_before_sleep(loop_t *loop, loop_hook_cb cb, void *data)
{
    loop->before_sleep = cb;
    loop->before_sleep_data = data;
}

void loop_free_later(loop_t *loop, void *ptr, void (*free_fn)(void *))
{
    if (loop->frees_len == loop->frees_cap) {
        size_t cap = loop->frees_cap ? loop->frees_cap * 2 : 64;
        deferred_free_t *f = realloc(loop->frees, cap * sizeof *f);
        if (!f) {
            log_error("deferred free list: out of memory");
            abort();
        }
        loop->frees = f;
        loop->frees_cap = cap;
    }
    loop->frees[loop->frees_len++] = (deferred_free_t){ptr, free_fn};
}

void loop_stop(loop_t *loop) { loop->stop = 1; }

int loop_epoll_fd(const loop_t *loop) { return loop->epfd; }

void loop_run(loop_t *loop)
{
    struct epoll_event events[LOOP_MAX_EVENTS];
    loop->stop = 0;
    while (!loop->stop) {
        if (loop->before_sleep) loop->before_sleep(loop, loop->before_sleep_data);
        run_deferred_frees(loop);
        if (loop->stop) break;

        int timeout = -1;
        if (loop->heap_len) {
            uint64_t now = loop_clock_ns() / 1000000;
            uint64_t due = loop->heap[0]->due_ms;
            timeout = due <= now ? 0 : (int)(due - now > 60000 ? 60000 : due - now);
        }
        int n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            log_error("epoll_wait: %s", strerror(errno));
            break;
        }
        loop->now_ms = loop_clock_ns() / 1000000;
        for (int i = 0; i < n; i++) {
            loop_watch_t *w = events[i].data.ptr;
            if (w->cb) w->cb(loop, w, events[i].events);
        }
        /* Memory handed to loop_free_later is released only after the
         * before-sleep hook: the hook's lists (connections to flush) may
         * still name an owner closed during this batch or its timers. */
        run_timers(loop);
    }
    run_deferred_frees(loop);
}
