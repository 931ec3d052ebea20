/* The libpq conninfo string ragws connects with, from the configuration:
 * used by the CLI and the master (cli/db_admin.h, blocking administration)
 * and by each worker before it starts io/pg.h's client. Pure: it reads
 * the configuration (and, for "auto", the working directory) and writes
 * into the caller's buffer; nothing is kept. */
#ifndef RAGWS_IO_PG_CONNINFO_H
#define RAGWS_IO_PG_CONNINFO_H

#include <stddef.h>

#include "base/config.h"

/* The conninfo to use: postgres.conninfo as is, or for "auto" the private
 * cluster that scripts/pg-local.sh runs under postgres.auto_dir
 * ("host=<absolute auto_dir>/run port=5432 dbname=ragws user=postgres
 * connect_timeout=N"). Returns 0, or -1 when out does not fit. */
int db_resolve_conninfo(const ragws_config_t *cfg, char *out, size_t len);

#endif
