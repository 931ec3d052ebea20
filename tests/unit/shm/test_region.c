/* shm/region.c: the slot iterator, the stats total over live slots and
 * the seqlocked snapshots (never a torn read). */
#include "tests/unit/unit.h"
#include "shm/region.h"

#include <pthread.h>
#include <time.h>

static void test_slot_iterator_filters_by_state(void)
{
    shm_region_t *shm = shm_create(1 << 16);
    CHECK(shm != NULL);
    if (!shm) return;
    CHECK_EQ_INT(shm_slot_next(shm, -1, SHM_LIVE), -1);
    atomic_store(&shm->slots[3].state, SLOT_STARTING);
    atomic_store(&shm->slots[7].state, SLOT_READY);
    atomic_store(&shm->slots[SHM_MAX_SLOTS - 1].state, SLOT_DRAINING);
    int seen[4] = {0}, n = 0;
    SHM_FOR_EACH_SLOT(shm, i, SHM_LIVE)
    {
        if (n < 4) seen[n] = i;
        n++;
    }
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(seen[0], 3);
    CHECK_EQ_INT(seen[1], 7);
    CHECK_EQ_INT(seen[2], SHM_MAX_SLOTS - 1);
    CHECK_EQ_INT(shm_slot_next(shm, -1, SHM_SERVING), 7);
    CHECK_EQ_INT(shm_slot_next(shm, 7, SHM_STATE(SLOT_READY)), -1);
    CHECK_EQ_INT(shm_slot_next(shm, -1, SHM_STATE(SLOT_FREE)), 0);
    CHECK_EQ_INT(shm_slot_next(shm, 2, SHM_STATE(SLOT_FREE)), 4);
    n = 0;
    SHM_FOR_EACH_SLOT(shm, i, SHM_ANY) n++;
    CHECK_EQ_INT(n, SHM_MAX_SLOTS);
}

static void test_stats_total_counts_live_slots_and_retired(void)
{
    shm_region_t *shm = shm_create(1 << 16);
    CHECK(shm != NULL);
    if (!shm) return;
    atomic_store(&shm->slots[1].state, SLOT_READY);
    stats_add(&shm->slots[1].stats.messages_in, 5);
    stats_add(&shm->slots[2].stats.messages_in, 100); /* free slot: not counted */
    stats_add(&shm->retired.messages_in, 7);
    worker_stats_t t;
    shm_stats_total(shm, &t);
    CHECK_EQ_INT(atomic_load(&t.messages_in), 12);
}

/* Two messages of different lengths written over and over by one thread:
 * a reader only ever sees one of them whole. */
static const char SNAP_A[] = "{\"type\":\"metrics\",\"data\":{\"errors\":1}}";
static const char SNAP_B[] = "{\"type\":\"metrics\",\"data\":{\"errors\":22222222,\"x\":\"é\"}}";
static _Atomic int snap_stop;

static void *snap_writer(void *arg)
{
    shm_region_t *shm = arg;
    for (unsigned i = 0; !atomic_load(&snap_stop); i++) {
        const char *m = i & 1 ? SNAP_A : SNAP_B;
        shm_snapshot_set(shm, SHM_SNAP_METRICS, m, strlen(m));
        /* The master writes every 100 ms or more; a writer that never
         * pauses would keep every reader retrying. */
        if (i % 16 == 0) nanosleep(&(struct timespec){0, 20000}, NULL);
    }
    return NULL;
}

static void test_snapshot_never_torn(void)
{
    shm_region_t *shm = shm_create(1 << 16);
    CHECK(shm != NULL);
    if (!shm) return;
    char out[SHM_SNAPSHOT_MAX];
    CHECK_EQ_INT(shm_snapshot_get(shm, SHM_SNAP_DASHBOARD, out, sizeof out), 0); /* none yet */
    CHECK_EQ_INT(shm_snapshot_set(shm, SHM_SNAP_DASHBOARD, "{}", 2), 0);
    CHECK_EQ_INT(shm_snapshot_get(shm, SHM_SNAP_DASHBOARD, out, sizeof out), 2);
    CHECK_EQ_STR(out, "{}");
    CHECK_EQ_INT(shm_snapshot_get(shm, SHM_SNAP_DASHBOARD, out, 2), -1); /* no room for NUL */
    static char big[SHM_SNAPSHOT_MAX + 1];
    memset(big, 'x', sizeof big - 1);
    CHECK_EQ_INT(shm_snapshot_set(shm, SHM_SNAP_DASHBOARD, big, SHM_SNAPSHOT_MAX), -1);
    CHECK_EQ_INT(shm_snapshot_get(shm, SHM_SNAP_DASHBOARD, out, sizeof out), 2); /* kept */
    CHECK_EQ_INT(shm_snapshot_set(shm, SHM_SNAP_KINDS, "{}", 2), -1);

    shm_snapshot_set(shm, SHM_SNAP_METRICS, SNAP_A, strlen(SNAP_A));
    pthread_t t;
    atomic_store(&snap_stop, 0);
    CHECK(pthread_create(&t, NULL, snap_writer, shm) == 0);
    int bad = 0, a = 0, b = 0;
    for (int i = 0; i < 200000; i++) {
        int n = shm_snapshot_get(shm, SHM_SNAP_METRICS, out, sizeof out);
        if (n == 0) continue; /* kept tearing */
        if (n == (int)strlen(SNAP_A) && strcmp(out, SNAP_A) == 0)
            a++;
        else if (n == (int)strlen(SNAP_B) && strcmp(out, SNAP_B) == 0)
            b++;
        else
            bad++;
    }
    atomic_store(&snap_stop, 1);
    pthread_join(t, NULL);
    CHECK_EQ_INT(bad, 0);
    CHECK(a + b > 0);
    CHECK_EQ_INT(shm_snapshot_get(shm, SHM_SNAP_DASHBOARD, out, sizeof out), 2);
}

int main(void)
{
    RUN(test_slot_iterator_filters_by_state);
    RUN(test_stats_total_counts_live_slots_and_retired);
    RUN(test_snapshot_never_torn);
    return UNIT_SUMMARY();
}
