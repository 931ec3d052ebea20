/* `ragws tasks` (see cli/tasks.h). */
#include "cli/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "cli/args.h"
#include "cli/db_admin.h"

static const char SQL_TASKS[] =
    "SELECT t.id, t.status, round((t.progress * 100)::numeric), coalesce(t.filename, ''),"
    " coalesce(c.name, ''), coalesce(t.error, '')"
    " FROM tasks t LEFT JOIN collections c ON c.id = t.collection_id"
    " WHERE $1::text IS NULL OR t.status = $1"
    "  OR ($1 = 'active' AND t.status IN ('queued', 'extracting', 'chunking', 'indexing'))"
    " ORDER BY t.id DESC LIMIT 200";

static const char *const STATUSES[] = {"queued",    "extracting", "chunking",  "indexing",
                                       "completed", "failed",     "cancelled", "active"};

static void print_rows(PGresult *r)
{
    printf("%-8s %-10s %8s  %-32s %-20s %s\n", "ID", "STATUS", "PROGRESS", "FILE", "COLLECTION",
           "ERROR");
    for (int i = 0; i < PQntuples(r); i++) {
        char err[256];
        text_one_line(err, sizeof err, PQgetvalue(r, i, 5));
        printf("%-8s %-10s %7s%%  %-32s %-20s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), err);
    }
    printf("%d task%s\n", PQntuples(r), PQntuples(r) == 1 ? "" : "s");
}

int cli_tasks(const ragws_config_t *cfg, int argc, char **argv)
{
    const char *status;
    if (cli_choice_arg(argc, argv, "--status", STATUSES, sizeof STATUSES / sizeof STATUSES[0],
                       &status) < 0) {
        fprintf(stderr, "usage: ragws tasks [--status queued|extracting|chunking|indexing|"
                        "completed|failed|cancelled|active] [-c FILE] [-o ...]\n");
        return 2;
    }
    char conninfo[4096], err[2048];
    if (db_resolve_conninfo(cfg, conninfo, sizeof conninfo) < 0) {
        fprintf(stderr, "ragws tasks: postgres.conninfo is too long\n");
        return 1;
    }
    PGconn *c = db_admin_connect(conninfo, err, sizeof err);
    if (!c) {
        fprintf(stderr, "ragws tasks: %s\n", err);
        return 1;
    }
    const char *vals[1] = {status};
    PGresult *r = db_admin_rows(c, SQL_TASKS, 1, vals, "cannot read the tasks", err, sizeof err);
    if (r)
        print_rows(r);
    else
        fprintf(stderr, "ragws tasks: %s\n", err);
    PQclear(r);
    PQfinish(c);
    return r ? 0 : 1;
}
