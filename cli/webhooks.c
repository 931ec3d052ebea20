/* `ragws webhooks list | retry` (see cli/webhooks.h). */
#include "cli/webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "cli/args.h"
#include "cli/db_admin.h"

static const char SQL_LIST[] =
    "SELECT id, status, attempts, event, url, coalesce(last_status::text, '-'),"
    " coalesce(last_error, '') FROM webhook_deliveries"
    " WHERE $1::text IS NULL OR status = $1 ORDER BY id DESC LIMIT 200";

/* FOR UPDATE: a sender finishing the same row at once waits, then finds
 * the lease gone and changes nothing. */
static const char SQL_RETRY[] =
    "WITH o AS (SELECT id, status AS old FROM webhook_deliveries WHERE id = $1::bigint FOR UPDATE),"
    " u AS (UPDATE webhook_deliveries d SET status = 'pending', attempts = 0,"
    "  next_attempt_at = now(), lease_owner = NULL, lease_until = NULL"
    "  FROM o WHERE d.id = o.id AND o.old <> 'delivered' RETURNING d.id)"
    " SELECT o.old FROM o";

static const char USAGE[] = "usage: ragws webhooks list [--status pending|delivered|dead] [-c FILE]"
                            " [-o ...]\n"
                            "       ragws webhooks retry ID [-c FILE] [-o ...]\n";

static PGconn *connect_db(const ragws_config_t *cfg)
{
    char conninfo[4096], err[2048];
    if (db_resolve_conninfo(cfg, conninfo, sizeof conninfo) < 0) {
        fprintf(stderr, "ragws webhooks: postgres.conninfo is too long\n");
        return NULL;
    }
    PGconn *c = db_admin_connect(conninfo, err, sizeof err);
    if (!c) fprintf(stderr, "ragws webhooks: %s\n", err);
    return c;
}

static const char *const STATUSES[] = {"pending", "delivered", "dead"};

static int cmd_list(const ragws_config_t *cfg, int argc, char **argv)
{
    const char *status;
    if (cli_choice_arg(argc, argv, "--status", STATUSES, sizeof STATUSES / sizeof STATUSES[0],
                       &status) < 0) {
        fputs(USAGE, stderr);
        return 2;
    }
    PGconn *c = connect_db(cfg);
    if (!c) return 1;
    char err[2048];
    const char *vals[1] = {status};
    PGresult *r =
        db_admin_rows(c, SQL_LIST, 1, vals, "cannot read the webhook deliveries", err, sizeof err);
    if (r) {
        printf("%-8s %-10s %8s  %-20s %-40s %6s  %s\n", "ID", "STATUS", "ATTEMPTS", "EVENT", "URL",
               "HTTP", "ERROR");
        for (int i = 0; i < PQntuples(r); i++) {
            char e[256];
            text_one_line(e, sizeof e, PQgetvalue(r, i, 6));
            printf("%-8s %-10s %8s  %-20s %-40s %6s  %s\n", PQgetvalue(r, i, 0),
                   PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                   PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), e);
        }
        printf("%d deliver%s\n", PQntuples(r), PQntuples(r) == 1 ? "y" : "ies");
    } else {
        fprintf(stderr, "ragws webhooks: %s\n", err);
    }
    PQclear(r);
    PQfinish(c);
    return r ? 0 : 1;
}

static int cmd_retry(const ragws_config_t *cfg, const char *id)
{
    size_t n = strlen(id);
    int ok = n > 0 && n <= 18 && strspn(id, "0123456789") == n && strtoll(id, NULL, 10) > 0;
    if (!ok) {
        fprintf(stderr, "ragws webhooks retry: \"%s\" is not a delivery id\n", id);
        return 2;
    }
    PGconn *c = connect_db(cfg);
    if (!c) return 1;
    char err[2048];
    const char *vals[1] = {id};
    PGresult *r =
        db_admin_rows(c, SQL_RETRY, 1, vals, "cannot retry the delivery", err, sizeof err);
    int rc = 1;
    if (!r)
        fprintf(stderr, "ragws webhooks: %s\n", err);
    else if (PQntuples(r) == 0)
        fprintf(stderr, "ragws webhooks retry: no delivery %s\n", id);
    else if (strcmp(PQgetvalue(r, 0, 0), "delivered") == 0)
        fprintf(stderr, "ragws webhooks retry: delivery %s was already delivered\n", id);
    else {
        printf("delivery %s: %s -> pending (due now)\n", id, PQgetvalue(r, 0, 0));
        rc = 0;
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

int cli_webhooks(const ragws_config_t *cfg, int n_args, char *const *args, int argc, char **argv)
{
    if (n_args >= 2 && strcmp(args[1], "list") == 0 && n_args == 2)
        return cmd_list(cfg, argc, argv);
    if (n_args == 3 && strcmp(args[1], "retry") == 0) return cmd_retry(cfg, args[2]);
    fputs(USAGE, stderr);
    return 2;
}
