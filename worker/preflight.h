/* The checks a worker makes of its configuration at start, run without
 * starting one: `ragws check-config` and `ragws` (before the master forks
 * anything) refuse what every worker would refuse (auth keys,
 * auth.algorithms, auth.endpoints against the route table).
 *
 * Part of the worker's composition root (it may use every worker/ layer);
 * cli/ calls it, so cli/ needs no worker service header. Nothing is kept:
 * whatever a check sets up is released before it returns. */
#ifndef RAGWS_WORKER_PREFLIGHT_H
#define RAGWS_WORKER_PREFLIGHT_H

#include <stddef.h>

#include "base/config.h"

/* 0, or -1 with err set to what a worker would log before exiting. */
int worker_preflight(const ragws_config_t *cfg, char *err, size_t errlen);

#endif
