/* `ragws webhooks ...`: the outbound webhook outbox (sql/007_webhooks.sql)
 * from the command line, with blocking libpq like the other database
 * subcommands (cli/db_admin.h):
 *
 *   ragws webhooks list [--status pending|delivered|dead]
 *       newest first (at most 200), one line each: id, status, attempts,
 *       event, URL, last HTTP status and error
 *   ragws webhooks retry ID
 *       a dead or pending delivery becomes pending again with its
 *       attempts reset, due now (a running server sends it within
 *       webhook.poll_interval); a delivered one is refused (exit 1)
 *
 * Exit codes: 0, 1 (storage, no such delivery, already delivered), 2
 * (bad usage). */
#ifndef RAGWS_CLI_WEBHOOKS_H
#define RAGWS_CLI_WEBHOOKS_H

#include "base/config.h"

/* args[0] is "webhooks"; argc/argv the whole command line (--status). */
int cli_webhooks(const ragws_config_t *cfg, int n_args, char *const *args, int argc, char **argv);

#endif
