/* The master's sampler: /proc and the shared statistics, turned into
 * system_metrics, service_status and error_alert on the "monitor" channel. */
#ifndef RAGWS_MASTER_MONITOR_H
#define RAGWS_MASTER_MONITOR_H

#include "base/config.h"
#include "shm/region.h"

void monitor_tick(shm_region_t *shm, const ragws_config_t *cfg);

/* One-off alert (a worker crashed ...). */
void monitor_alert(shm_region_t *shm, const char *severity, const char *service,
                   const char *message);

#endif
