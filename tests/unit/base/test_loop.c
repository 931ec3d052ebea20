/* base/loop.c against base/loop.h's contract: timers fire in due order
 * and a stopped one never fires; a watch on a pipe sees its data; the
 * before-sleep hook runs once per iteration, after events and timers;
 * memory handed to loop_free_later is freed only after the iteration
 * (a later event of the same batch may still point at it). */
#include "tests/unit/unit.h"
#include "base/loop.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
    char order[32]; /* timer tags in firing order */
    size_t n;
    int hooks;
    int hook_saw_events; /* events seen when the hook last ran */
    int events;
    int freed;
    int freed_at_hook[4]; /* freed count when the hook ran, per iteration */
} trace_t;

static trace_t T;

static void on_timer(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    if (T.n + 1 < sizeof T.order) T.order[T.n++] = *(const char *)t->data;
}

static void stop_timer(loop_t *loop, loop_timer_t *t)
{
    on_timer(loop, t);
    loop_stop(loop);
}

static void test_timers_fire_in_due_order(void)
{
    memset(&T, 0, sizeof T);
    loop_t *loop = loop_new();
    CHECK(loop != NULL);
    loop_timer_t t[5] = {0};
    static const char tags[] = "abcdz";
    /* Started out of order; due 30, 10, 20, 0 ms; z stops the loop. */
    loop_timer_start(loop, &t[0], 30, on_timer, (void *)&tags[0]);
    loop_timer_start(loop, &t[1], 10, on_timer, (void *)&tags[1]);
    loop_timer_start(loop, &t[2], 20, on_timer, (void *)&tags[2]);
    loop_timer_start(loop, &t[3], 0, on_timer, (void *)&tags[3]);
    loop_timer_start(loop, &t[4], 60, stop_timer, (void *)&tags[4]);
    CHECK(loop_timer_armed(&t[0]) && loop_timer_armed(&t[3]));
    uint64_t start = loop_clock_ns();
    loop_run(loop);
    T.order[T.n] = '\0';
    CHECK_EQ_STR(T.order, "dbcaz");
    /* Not early (due times are whole milliseconds of the clock). */
    CHECK(loop_clock_ns() - start >= 59 * 1000000ull);
    for (int i = 0; i < 5; i++) CHECK(!loop_timer_armed(&t[i]));
    loop_free(loop);
}

static void test_stopped_and_rearmed_timers(void)
{
    memset(&T, 0, sizeof T);
    loop_t *loop = loop_new();
    loop_timer_t t[4] = {0};
    static const char tags[] = "abcz";
    loop_timer_start(loop, &t[0], 5, on_timer, (void *)&tags[0]);
    loop_timer_start(loop, &t[1], 10, on_timer, (void *)&tags[1]);
    loop_timer_start(loop, &t[2], 15, on_timer, (void *)&tags[2]);
    loop_timer_start(loop, &t[3], 40, stop_timer, (void *)&tags[3]);
    loop_timer_stop(loop, &t[1]); /* cancelled: never fires */
    CHECK(!loop_timer_armed(&t[1]));
    loop_timer_stop(loop, &t[1]);                                  /* stopping twice is harmless */
    loop_timer_start(loop, &t[0], 25, on_timer, (void *)&tags[0]); /* re-armed: moves */
    loop_run(loop);
    T.order[T.n] = '\0';
    CHECK_EQ_STR(T.order, "caz");
    loop_free(loop);
}

/* Many timers, some stopped at random places of the heap: the rest fire
 * in due order. */
static uint64_t last_due;
static int out_of_order, heap_fired;

static void record_due(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    if (t->due_ms < last_due) out_of_order++;
    last_due = t->due_ms;
    heap_fired++;
}

static void test_heap_keeps_order_under_cancels(void)
{
    loop_t *loop = loop_new();
    enum { N = 300 };
    static loop_timer_t t[N];
    memset(t, 0, sizeof t);
    srand(11);
    for (int i = 0; i < N; i++)
        loop_timer_start(loop, &t[i], (uint64_t)(rand() % 25), record_due, NULL);
    int stopped = 0;
    for (int i = 0; i < N; i += 3, stopped++) loop_timer_stop(loop, &t[i]);
    loop_timer_t end = {0};
    loop_timer_start(loop, &end, 40, stop_timer, (void *)"z");
    last_due = 0;
    out_of_order = heap_fired = 0;
    memset(&T, 0, sizeof T);
    loop_run(loop);
    CHECK_EQ_INT(heap_fired, N - stopped);
    CHECK_EQ_INT(out_of_order, 0);
    loop_free(loop);
}

static void on_pipe(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    char buf[64];
    CHECK(events & EPOLLIN);
    ssize_t n = read(w->fd, buf, sizeof buf);
    CHECK_EQ_INT(n, 5);
    CHECK(n == 5 && memcmp(buf, "hello", 5) == 0);
    T.events++;
    loop_watch_del(loop, w);
    loop_stop(loop);
}

static void write_pipe(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    int fd = *(int *)t->data;
    CHECK_EQ_INT(write(fd, "hello", 5), 5);
}

static void test_watch_on_a_pipe(void)
{
    memset(&T, 0, sizeof T);
    loop_t *loop = loop_new();
    int p[2];
    CHECK_EQ_INT(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    loop_watch_t w;
    CHECK_EQ_INT(loop_watch_add(loop, &w, p[0], EPOLLIN, on_pipe, NULL), 0);
    CHECK_EQ_INT(w.fd, p[0]);
    loop_timer_t t = {0};
    loop_timer_start(loop, &t, 10, write_pipe, &p[1]); /* the loop sleeps until then */
    loop_timer_t guard = {0};
    loop_timer_start(loop, &guard, 2000, stop_timer, (void *)"g");
    loop_run(loop);
    CHECK_EQ_INT(T.events, 1);
    CHECK_EQ_INT(T.n, 0); /* stopped by the watch, not the guard */
    CHECK(w.cb == NULL);  /* deleted: a late event would be a no-op */
    loop_timer_stop(loop, &guard);
    loop_free(loop);
    close(p[0]);
    close(p[1]);
}

static void count_event(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)loop;
    (void)w;
    (void)events;
    T.events++;
}

static void hook(loop_t *loop, void *data)
{
    CHECK(data == &T);
    T.hooks++;
    T.hook_saw_events = T.events;
    if (T.hooks == 3) loop_stop(loop);
}

static void tick(loop_t *loop, loop_timer_t *t) { loop_timer_start(loop, t, 5, tick, NULL); }

static void test_before_sleep_hook(void)
{
    memset(&T, 0, sizeof T);
    loop_t *loop = loop_new();
    int p[2];
    CHECK_EQ_INT(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    CHECK_EQ_INT(write(p[1], "x", 1), 1); /* level-triggered: ready every turn */
    loop_watch_t w;
    loop_watch_add(loop, &w, p[0], EPOLLIN, count_event, NULL);
    loop_set_before_sleep(loop, hook, &T);
    loop_run(loop);
    /* First hook before any wait; then once per iteration, after its events. */
    CHECK_EQ_INT(T.hooks, 3);
    CHECK_EQ_INT(T.events, 2);
    CHECK_EQ_INT(T.hook_saw_events, 2);
    loop_watch_del(loop, &w);
    /* A loop that only has a timer: the hook still runs every iteration. */
    memset(&T, 0, sizeof T);
    loop_timer_t t = {0};
    loop_timer_start(loop, &t, 5, tick, NULL);
    loop_run(loop);
    CHECK_EQ_INT(T.hooks, 3);
    loop_timer_stop(loop, &t);
    loop_set_before_sleep(loop, NULL, NULL);
    loop_free(loop);
    close(p[0]);
    close(p[1]);
}

typedef struct owner {
    loop_watch_t w;
    int *alive;
} owner_t;

static void owner_free(void *p)
{
    owner_t *o = p;
    *o->alive = 0;
    T.freed++;
    free(o);
}

/* Two owners ready in the same batch; the first closes both. The second's
 * event must still find its memory (freed later) with a no-op callback. */
static void owner_event(loop_t *loop, loop_watch_t *w, uint32_t events)
{
    (void)events;
    owner_t *o = (owner_t *)w;
    T.events++;
    CHECK(*o->alive);
    owner_t *other = w->data;
    loop_watch_del(loop, &o->w);
    loop_free_later(loop, o, owner_free);
    if (other) {
        loop_watch_del(loop, &other->w);
        loop_free_later(loop, other, owner_free);
    }
    CHECK_EQ_INT(T.freed, 0); /* nothing freed during the batch */
}

static void stop_hook(loop_t *loop, void *data)
{
    (void)data;
    if (T.hooks < 4) T.freed_at_hook[T.hooks] = T.freed;
    T.hooks++;
    if (T.hooks == 3) loop_stop(loop);
}

static void test_deferred_frees(void)
{
    memset(&T, 0, sizeof T);
    loop_t *loop = loop_new();
    int p[2], q[2];
    CHECK_EQ_INT(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    CHECK_EQ_INT(pipe2(q, O_NONBLOCK | O_CLOEXEC), 0);
    int alive_a = 1, alive_b = 1;
    owner_t *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    a->alive = &alive_a;
    b->alive = &alive_b;
    loop_watch_add(loop, &a->w, p[0], EPOLLIN, owner_event, b);
    loop_watch_add(loop, &b->w, q[0], EPOLLIN, owner_event, a);
    CHECK_EQ_INT(write(p[1], "x", 1), 1);
    CHECK_EQ_INT(write(q[1], "x", 1), 1); /* both ready in one epoll batch */
    loop_set_before_sleep(loop, stop_hook, NULL);
    loop_timer_t wake = {0}; /* a third iteration */
    loop_timer_start(loop, &wake, 20, on_timer, (void *)"w");
    loop_run(loop);
    CHECK_EQ_INT(T.events, 1); /* the second event found a deleted watch */
    /* Iteration 1 handles the batch; the hook of iteration 2 still sees
     * the owners (its lists may name them); they are freed right after it,
     * before the loop sleeps again. */
    CHECK_EQ_INT(T.freed_at_hook[0], 0);
    CHECK_EQ_INT(T.freed_at_hook[1], 0);
    CHECK_EQ_INT(T.freed_at_hook[2], 2);
    CHECK(!alive_a && !alive_b);
    /* What is still deferred at loop_free is freed there. */
    int alive_c = 1;
    owner_t *c = calloc(1, sizeof *c);
    c->alive = &alive_c;
    loop_free_later(loop, c, owner_free);
    CHECK(alive_c);
    loop_free(loop);
    CHECK(!alive_c);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
}

static void test_clock(void)
{
    loop_t *loop = loop_new();
    uint64_t a = loop_clock_ns();
    uint64_t b = loop_clock_ns();
    CHECK(b >= a);
    /* loop_now_ms is the clock cached at the start of the iteration. */
    uint64_t now = loop_now_ms(loop);
    CHECK(now <= loop_clock_ns() / 1000000 && now + 1000 > loop_clock_ns() / 1000000);
    CHECK(loop_epoll_fd(loop) >= 0);
    loop_free(loop);
}

int main(void)
{
    RUN(test_timers_fire_in_due_order);
    RUN(test_stopped_and_rearmed_timers);
    RUN(test_heap_keeps_order_under_cancels);
    RUN(test_watch_on_a_pipe);
    RUN(test_before_sleep_hook);
    RUN(test_deferred_frees);
    RUN(test_clock);
    return UNIT_SUMMARY();
}
