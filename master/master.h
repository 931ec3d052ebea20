/* The master process (SPEC S1): owns the config and the shared region,
 * forks and supervises the workers, handles SIGHUP/SIGTERM/SIGINT, talks
 * to systemd and publishes the /ws/monitor figures. */
#ifndef RAGWS_MASTER_MASTER_H
#define RAGWS_MASTER_MASTER_H

#include "base/config.h"

/* Runs until stopped; returns the process exit code. cfg is owned by the
 * master from here on (it is replaced on reload). */
int master_run(ragws_config_t *cfg, char *const *overrides, int n_overrides);

#endif
