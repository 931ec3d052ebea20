/* `ragws migrate`, `ragws ingest` and the schema check before serving. */
#include "cli/db.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/db_admin.h"
#include "cli/ingest.h"
#include "base/log.h"

#define CONNINFO_MAX 4096

/* Appends w to out, single-quoted for a POSIX shell when it needs it, so
 * the printed fix command can be pasted as is. */
static void shell_word(char *out, size_t len, size_t *o, const char *w)
{
    int plain = w[0] != '\0';
    for (const char *p = w; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./,:@%", *p))
            plain = 0;
    if (*o + 2 >= len) return;
    out[(*o)++] = ' ';
    if (plain) {
        *o += (size_t)snprintf(out + *o, len - *o, "%s", w);
    } else {
        out[(*o)++] = '\'';
        for (const char *p = w; *p && *o + 6 < len; p++) {
            if (*p == '\'') {
                memcpy(out + *o, "'\\''", 4); /* close, escaped quote, reopen */
                *o += 4;
            } else {
                out[(*o)++] = *p;
            }
        }
        out[(*o)++] = '\'';
    }
    if (*o >= len) *o = len - 1;
    out[*o] = '\0';
}

/* "ragws migrate -c FILE [-o postgres.x=y]...": the same database as the
 * command that failed. */
static void fix_command(const ragws_config_t *cfg, char *const *overrides, int n, char *out,
                        size_t len)
{
    size_t o = (size_t)snprintf(out, len, "ragws migrate");
    if (cfg->path[0]) {
        shell_word(out, len, &o, "-c");
        shell_word(out, len, &o, cfg->path);
    }
    for (int i = 0; i < n; i++) {
        if (strncmp(overrides[i], "postgres.", 9) != 0) continue;
        shell_word(out, len, &o, "-o");
        shell_word(out, len, &o, overrides[i]);
    }
}

/* Connection failures with conninfo = auto usually mean the private
 * cluster is not running: say how to start it. */
static void print_unreachable(const char *prog, const ragws_config_t *cfg, const char *err)
{
    fprintf(stderr, "%s: %s\n", prog, err);
    if (strcmp(cfg->pg_conninfo, "auto") == 0)
        fprintf(stderr,
                "%s: postgres.conninfo = auto: start the private cluster with "
                "scripts/pg-local.sh start %s\n",
                prog, cfg->pg_auto_dir);
}

static int resolve(const char *prog, const ragws_config_t *cfg, char *conninfo)
{
    if (db_resolve_conninfo(cfg, conninfo, CONNINFO_MAX) == 0) return 0;
    fprintf(stderr, "%s: postgres.conninfo (or postgres.auto_dir) is too long\n", prog);
    return -1;
}

static int cmd_migrate(const ragws_config_t *cfg, int n_pos)
{
    if (n_pos != 1) {
        fprintf(stderr, "usage: ragws migrate [-c FILE] [-o section.key=value]...\n");
        return 2;
    }
    char conninfo[CONNINFO_MAX], err[2048];
    if (resolve("ragws migrate", cfg, conninfo) < 0) return 1;
    if (db_migrate(conninfo, stdout, err, sizeof err) < 0) {
        if (strncmp(err, "cannot connect", 14) == 0)
            print_unreachable("ragws migrate", cfg, err);
        else
            fprintf(stderr, "ragws migrate: %s\n", err);
        return 1;
    }
    return 0;
}

static int cmd_ingest(const ragws_config_t *cfg, char **pos, int n_pos, char **overrides,
                      int n_over)
{
    if (n_pos < 3) {
        fprintf(stderr,
                "usage: ragws ingest COLLECTION FILE... [-c FILE] [-o section.key=value]...\n");
        return 2;
    }
    char conninfo[CONNINFO_MAX], err[2048];
    if (resolve("ragws ingest", cfg, conninfo) < 0) return 1;

    /* An unmigrated database would fail on the first INSERT with a less
     * helpful message. */
    int rc = db_schema_check(conninfo, err, sizeof err);
    if (rc == -2) {
        print_unreachable("ragws ingest", cfg, err);
        return 1;
    }
    if (rc == -1) {
        char fix[CONNINFO_MAX];
        fix_command(cfg, overrides, n_over, fix, sizeof fix);
        fprintf(stderr, "ragws ingest: %s; run: %s\n", err, fix);
        return 1;
    }
    PGconn *conn = db_admin_connect(conninfo, err, sizeof err);
    if (!conn) {
        print_unreachable("ragws ingest", cfg, err);
        return 1;
    }
    /* Every file is tried; the exit status reports whether any failed. */
    rc = db_ingest_files(conn, pos[1], pos + 2, n_pos - 2, cfg);
    PQfinish(conn);
    return rc;
}

int cli_db_command(const char *cmd, const ragws_config_t *cfg, int argc, char **argv)
{
    /* main() has validated the options; collect positionals and -o values. */
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    char **over = calloc((size_t)argc + 1, sizeof *over);
    int n_pos = 0, n_over = 0, rc;
    if (!pos || !over) {
        free(pos);
        free(over);
        fprintf(stderr, "ragws: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-c") == 0 || strcmp(a, "-o") == 0) && i + 1 < argc) {
            if (a[1] == 'o') over[n_over++] = argv[i + 1];
            i++;
        } else if (a[0] != '-' || a[1] == '\0') {
            pos[n_pos++] = argv[i];
        }
    }
    if (strcmp(cmd, "migrate") == 0)
        rc = cmd_migrate(cfg, n_pos);
    else
        rc = cmd_ingest(cfg, pos, n_pos, over, n_over);
    free(pos);
    free(over);
    return rc;
}

/* The server's first log lines come from here, before master_run: they
 * follow log.format and log.level like every later line. */
int cli_db_check_schema(const ragws_config_t *cfg, char *const *overrides, int n_overrides)
{
    log_setup(cfg->log_format == LOG_FORMAT_JSON, cfg->log_level, "master");
    char conninfo[CONNINFO_MAX], err[2048];
    if (db_resolve_conninfo(cfg, conninfo, sizeof conninfo) < 0) {
        log_error("refusing to start: postgres.conninfo (or postgres.auto_dir) is too long");
        return 1;
    }
    int rc = db_schema_check(conninfo, err, sizeof err);
    if (rc == 0) return 0;
    if (rc == -2) {
        log_warn("PostgreSQL is unavailable at start-up (%s); serving without storage "
                 "(STORAGE_UNAVAILABLE) until it can be reached",
                 err);
        if (strcmp(cfg->pg_conninfo, "auto") == 0)
            log_warn("postgres.conninfo = auto: start the private cluster with "
                     "scripts/pg-local.sh start %s",
                     cfg->pg_auto_dir);
        return 0;
    }
    char fix[CONNINFO_MAX];
    fix_command(cfg, overrides, n_overrides, fix, sizeof fix);
    log_error("refusing to start: %s; run: %s", err, fix);
    return 1;
}
