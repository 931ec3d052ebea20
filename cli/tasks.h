/* `ragws tasks [--status S] [-c FILE] [-o ...]`: the ingestion tasks,
 * newest first (at most 200), one line each: id, status, progress, file,
 * collection, error. S: queued, extracting, chunking, indexing,
 * completed, failed, cancelled or active (not finished). Blocking libpq,
 * like the other database subcommands (cli/db_admin.h). */
#ifndef RAGWS_CLI_TASKS_H
#define RAGWS_CLI_TASKS_H

#include "base/config.h"

/* argv: the whole command line. Returns the exit code (2: bad usage). */
int cli_tasks(const ragws_config_t *cfg, int argc, char **argv);

#endif
