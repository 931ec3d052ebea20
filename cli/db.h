/* Database subcommands (SPEC S5, S9) and the start-up schema check:
 *
 *   ragws migrate [-c FILE] [-o ...]                 apply sql/ migrations
 *   ragws ingest COLLECTION FILE... [-c FILE] [-o ...]
 *
 * main() loads the config, then hands over. */
#ifndef RAGWS_MASTER_CLI_DB_H
#define RAGWS_MASTER_CLI_DB_H

#include "base/config.h"

/* Runs `migrate` or `ingest` (cmd) and returns the exit code. argv is the
 * whole command line: ingest reads its COLLECTION and FILEs from it itself
 * (skipping -c/-o and their values), so any number of files works. */
int cli_db_command(const char *cmd, const ragws_config_t *cfg, int argc, char **argv);

/* Before serving: 0 when the schema is current, or when PostgreSQL cannot
 * be reached (a warning in the log: the server starts and answers
 * STORAGE_UNAVAILABLE until it can). 1 when the schema is older than this
 * binary: the error logged names the command that fixes it, built
 * from the config path and any postgres.* overrides. */
int cli_db_check_schema(const ragws_config_t *cfg, char *const *overrides, int n_overrides);

#endif
