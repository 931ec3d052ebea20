/* `ragws publish CHANNEL JSON`: POST the message to the running server's
 * /api/broadcast with the admin token. */
#ifndef RAGWS_MASTER_CLI_PUBLISH_H
#define RAGWS_MASTER_CLI_PUBLISH_H

#include "base/config.h"

int cli_publish(const ragws_config_t *cfg, const char *channel, const char *json);

/* The seed 002 utilities: `ragws publish project|document-status|
 * project-update ...` post to the admin project endpoints. argv[0] is the
 * subcommand. */
int cli_publish_project(const ragws_config_t *cfg, int argc, char *const *argv);

#endif
