/* The master process (SPEC S1): owns the config and the shared region,
 * forks and supervises the workers, handles SIGHUP/SIGTERM/SIGINT, talks
 * to systemd and publishes the /ws/monitor figures.
 *
 * The master knows nothing of what a worker does: the composition root of
 * the program (cli/main.c) hands it the worker's entry point, which it
 * calls in each forked child (as nginx's ngx_spawn_process hands the child
 * its cycle function). */
#ifndef RAGWS_MASTER_MASTER_H
#define RAGWS_MASTER_MASTER_H

#include <stdint.h>

#include "base/config.h"
#include "shm/region.h"

/* A worker process's body, run in the forked child: cfg and shm stay the
 * master's (inherited copies), slot_idx is the child's slot in shm,
 * generation the configuration generation it serves, listen_fd its
 * position's listening socket (master/listener.h). It must not return;
 * if it does, the child exits with status 0. */
typedef void (*master_worker_fn)(const ragws_config_t *cfg, shm_region_t *shm, int slot_idx,
                                 uint32_t generation, int listen_fd);

/* Runs until stopped; returns the process exit code. cfg is owned by the
 * master from here on (it is replaced on reload). entry is called in every
 * forked worker. */
int master_run(ragws_config_t *cfg, char *const *overrides, int n_overrides,
               master_worker_fn entry);

#endif
