/* worker/svc/jobs.c: the per-connection job list, with fake jobs (a
 * counter of cancels, records freed through release). */
#include "tests/unit/unit.h"
#include "worker/svc/jobs.h"

#include <stdlib.h>

typedef struct fake {
    job_t j; /* first */
    int id;
} fake_t;

static int cancelled[16], n_cancelled;
static int released[16], n_released;

static void fake_cancel(void *handle) { cancelled[n_cancelled++] = *(int *)handle; }

static void fake_release(job_t *j)
{
    released[n_released++] = ((fake_t *)j)->id;
    free(j);
}

static int handles[16];

static void reset(void) { n_cancelled = n_released = 0; }

static fake_t *start(jobs_t *l, int id)
{
    if (!jobs_room(l)) return NULL;
    fake_t *f = calloc(1, sizeof *f);
    f->id = id;
    handles[id] = id;
    CHECK_EQ_INT(jobs_add(l, &f->j, &handles[id]), 0);
    return f;
}

static void test_limit(void)
{
    reset();
    jobs_t l;
    int owner;
    jobs_init(&l, &owner, 2, fake_cancel, fake_release);
    CHECK(jobs_room(&l));
    fake_t *a = start(&l, 1);
    fake_t *b = start(&l, 2);
    CHECK(a && b);
    CHECK(!jobs_room(&l));
    CHECK(start(&l, 3) == NULL);
    fake_t extra = {.id = 9};
    CHECK_EQ_INT(jobs_add(&l, &extra.j, &handles[9]), -1); /* full: refused, untouched */
    CHECK(extra.j.list == NULL);
    CHECK_EQ_INT(l.n, 2);
    CHECK(jobs_owner(&a->j) == &owner);
    jobs_cancel_all(&l);
    CHECK_EQ_INT(l.n, 0);
}

static void test_done_unlinks_without_cancel(void)
{
    reset();
    jobs_t l;
    jobs_init(&l, NULL, 4, fake_cancel, fake_release);
    fake_t *a = start(&l, 1);
    start(&l, 2);
    fake_t *c = start(&l, 3);
    jobs_done(&a->j); /* the oldest */
    jobs_done(&c->j); /* the newest */
    CHECK_EQ_INT(n_cancelled, 0);
    CHECK_EQ_INT(n_released, 2);
    CHECK_EQ_INT(released[0], 1);
    CHECK_EQ_INT(released[1], 3);
    CHECK_EQ_INT(l.n, 1);
    CHECK(jobs_room(&l));
    CHECK_EQ_INT(((fake_t *)l.head)->id, 2);
    CHECK(l.head->next == NULL);
    jobs_cancel_all(&l);
}

static void test_cancel_all(void)
{
    reset();
    jobs_t l;
    jobs_init(&l, NULL, 8, fake_cancel, fake_release);
    for (int i = 1; i <= 5; i++) start(&l, i);
    jobs_cancel_all(&l);
    CHECK_EQ_INT(n_cancelled, 5);
    CHECK_EQ_INT(n_released, 5);
    for (int i = 0; i < 5; i++) { /* most recent first; each cancelled before release */
        CHECK_EQ_INT(cancelled[i], 5 - i);
        CHECK_EQ_INT(released[i], 5 - i);
    }
    CHECK(l.head == NULL);
    CHECK_EQ_INT(l.n, 0);
    jobs_cancel_all(&l); /* empty: nothing */
    CHECK_EQ_INT(n_cancelled, 5);
}

static int id_is(const job_t *j, const void *key)
{
    return ((const fake_t *)j)->id == *(const int *)key;
}

static void test_find_and_cancel_one(void)
{
    reset();
    jobs_t l;
    jobs_init(&l, NULL, 8, fake_cancel, fake_release);
    for (int i = 1; i <= 3; i++) start(&l, i);
    int key = 2, missing = 7;
    job_t *j = jobs_find(&l, id_is, &key);
    CHECK(j && ((fake_t *)j)->id == 2);
    CHECK(jobs_find(&l, id_is, &missing) == NULL);
    jobs_cancel(j);
    CHECK_EQ_INT(n_cancelled, 1);
    CHECK_EQ_INT(cancelled[0], 2);
    CHECK_EQ_INT(l.n, 2);
    CHECK(jobs_find(&l, id_is, &key) == NULL);
    jobs_cancel_all(&l);
    CHECK_EQ_INT(n_released, 3);
}

int main(void)
{
    RUN(test_limit);
    RUN(test_done_unlinks_without_cancel);
    RUN(test_cancel_all);
    RUN(test_find_and_cancel_one);
    return UNIT_SUMMARY();
}
