/* The master's ingestion figures (SPEC S4.2): every
 * dashboard.metrics_interval, one ingest_figures_t computed from shared
 * memory -- the tasks table's counts the workers' pollers report
 * (shm->ingest), the places in use, and the workers' ingest_* counters
 * summed over live slots and retired ones -- encoded once as
 * dashboard_update and metrics, published on INGEST_CH_DASHBOARD and
 * INGEST_CH_METRICS and stored in the shm snapshot area (what a client gets
 * on connect). Per-minute figures come from counter deltas over a sliding
 * minute. threshold_exceeded notifications go out once per crossing.
 *
 * State: a process context of the master (the sample window and the
 * crossing flags), touched only from its loop. */
#ifndef RAGWS_MASTER_DASHBOARD_H
#define RAGWS_MASTER_DASHBOARD_H

#include "base/config.h"
#include "protocol/ingest_events.h"
#include "shm/region.h"

/* One sample: compute, publish and store. now_ms: a monotonic clock. */
void dashboard_tick(shm_region_t *shm, const ragws_config_t *cfg, uint64_t now_ms);

/* The figures of the latest tick (for tests and logs). */
const ingest_figures_t *dashboard_latest(void);

#endif
