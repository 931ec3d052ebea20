/* shm/region.c: the slot iterator and the stats total over live slots. */
#include "tests/unit/unit.h"
#include "shm/region.h"

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

int main(void)
{
    RUN(test_slot_iterator_filters_by_state);
    RUN(test_stats_total_counts_live_slots_and_retired);
    return UNIT_SUMMARY();
}
