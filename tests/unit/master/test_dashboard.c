/* master/dashboard.c: figures from shared memory (the tasks table's counts,
 * the workers' counters over a sliding minute, retired ones included),
 * published and kept as snapshots; threshold_exceeded once per crossing. */
#include "tests/unit/unit.h"
#include "tests/unit/protocol/json_check.h"
#include "master/dashboard.h"

#include <stdlib.h>

static shm_region_t *shm;
static ring_reader_t rd;

/* The messages published since the last call, by channel; n of them. */
static int drain(char msgs[][SHM_SNAPSHOT_MAX], char chans[][32], int max)
{
    static char buf[1 << 16];
    int n = 0;
    ring_entry_t e;
    ring_lap_t lap;
    while (ring_read(shm_ring(shm), &rd, &e, buf, sizeof buf, &lap) == RING_OK && n < max) {
        snprintf(chans[n], 32, "%.*s", (int)e.channel_len, e.channel);
        snprintf(msgs[n], SHM_SNAPSHOT_MAX, "%.*s", (int)e.payload_len, e.payload);
        n++;
    }
    return n;
}

static int count_notifications(char msgs[][SHM_SNAPSHOT_MAX], int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) k += has(msgs[i], "\"threshold_exceeded\"") != 0;
    return k;
}

static void test_figures_and_snapshots(void)
{
    ragws_config_t cfg;
    config_defaults(&cfg);
    cfg.ingest_max_parallel = 3;
    cfg.dashboard_queue_threshold = 4;
    cfg.dashboard_failure_threshold = 1;
    shm = shm_create(1 << 16);
    CHECK(shm != NULL);
    if (!shm) return;
    ring_reader_init(shm_ring(shm), &rd);
    char msgs[16][SHM_SNAPSHOT_MAX], chans[16][32];

    dashboard_tick(shm, &cfg, 1000); /* start: everything 0 */
    CHECK_EQ_INT(drain(msgs, chans, 16), 2);
    CHECK_EQ_STR(chans[0], INGEST_CH_DASHBOARD);
    CHECK_EQ_STR(chans[1], INGEST_CH_METRICS);
    char snap[SHM_SNAPSHOT_MAX];
    CHECK(shm_snapshot_get(shm, SHM_SNAP_DASHBOARD, snap, sizeof snap) > 0);
    CHECK_EQ_STR(snap, msgs[0]);
    CHECK(shm_snapshot_get(shm, SHM_SNAP_METRICS, snap, sizeof snap) > 0);
    CHECK_EQ_STR(snap, msgs[1]);

    /* Two workers, one busy; one retired worker's counters still count. */
    atomic_store(&shm->slots[0].state, SLOT_READY);
    atomic_store(&shm->slots[1].state, SLOT_READY);
    stats_set(&shm->slots[0].stats.ingest_running, 2);
    stats_add(&shm->slots[0].stats.ingest_completed, 3);
    stats_add(&shm->slots[0].stats.ingest_task_ms, 6000);
    stats_add(&shm->slots[1].stats.ingest_failed, 1);
    stats_add(&shm->slots[1].stats.ingest_task_ms, 2000);
    stats_add(&shm->slots[1].stats.ingest_pages, 40);
    stats_add(&shm->retired.ingest_pages, 2);
    shm_ingest_report(shm, 1, 5, 2, 30, 4, 1);
    dashboard_tick(shm, &cfg, 31000);
    int n = drain(msgs, chans, 16);
    CHECK_EQ_INT(n, 3); /* dashboard_update, metrics, one crossing: queue 5 > 4 */
    CHECK_EQ_INT(count_notifications(msgs, n), 1);
    json_t *v = jparse(msgs[0]);
    CHECK_EQ_STR(jstr(v, "type"), "dashboard_update");
    CHECK_EQ_INT(jint(v, "data.queued_tasks"), 5);
    CHECK_EQ_INT(jint(v, "data.queue_length"), 5);
    CHECK_EQ_INT(jint(v, "data.active_tasks"), 2);
    CHECK_EQ_INT(jint(v, "data.completed_tasks"), 30);
    CHECK_EQ_INT(jint(v, "data.failed_tasks"), 4);
    CHECK_EQ_INT(jint(v, "data.cancelled_tasks"), 1);
    CHECK(jnum(v, "data.tasks_per_minute") == 3);
    CHECK(jnum(v, "data.average_task_seconds") == 2); /* 8 s over 4 finished */
    CHECK_EQ_INT(jint(v, "data.pages_processed"), 42);
    CHECK_EQ_INT(jint(v, "data.errors"), 1);
    CHECK_EQ_INT(jint(v, "data.workers_busy"), 1);
    CHECK_EQ_INT(jint(v, "data.max_parallel"), 3);
    json_decref(v);
    v = jparse(msgs[2]);
    CHECK_EQ_STR(jstr(v, "type"), "notification");
    CHECK_EQ_STR(jstr(v, "data.event"), "threshold_exceeded");
    CHECK(has(jstr(v, "data.message"), "queue length: 5"));
    json_decref(v);

    /* Still over: no second notification. Then a second failure within
     * the minute: 2 > 1. */
    stats_add(&shm->slots[1].stats.ingest_failed, 1);
    dashboard_tick(shm, &cfg, 41000);
    n = drain(msgs, chans, 16);
    CHECK_EQ_INT(count_notifications(msgs, n), 1);
    CHECK(has(msgs[n - 1], "failed tasks in the last minute: 2"));
    dashboard_tick(shm, &cfg, 51000);
    n = drain(msgs, chans, 16);
    CHECK_EQ_INT(count_notifications(msgs, n), 0);

    /* A minute later the window has moved past them: back under, then
     * over again is a new crossing. */
    shm_ingest_report(shm, 2, 0, 0, 30, 5, 1);
    dashboard_tick(shm, &cfg, 121000);
    n = drain(msgs, chans, 16);
    CHECK_EQ_INT(count_notifications(msgs, n), 0);
    CHECK(dashboard_latest()->tasks_per_minute == 0);
    CHECK(dashboard_latest()->average_task_seconds == 0);
    CHECK_EQ_INT(dashboard_latest()->errors, 2); /* since start, not per minute */
    shm_ingest_report(shm, 3, 9, 0, 30, 5, 1);
    dashboard_tick(shm, &cfg, 122000);
    n = drain(msgs, chans, 16);
    CHECK_EQ_INT(count_notifications(msgs, n), 1);
}

int main(void)
{
    RUN(test_figures_and_snapshots);
    return UNIT_SUMMARY();
}
