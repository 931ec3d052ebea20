/* ragws: command line, and the composition root of the program: it hands
 * the master the worker's entry point (worker_main). `ragws -c FILE
 * [-o section.key=value ...]` serves; subcommands (the table below):
 * check-config, publish, migrate, ingest, tasks, webhooks, version (also -v, -V, --version;
 * -v is "verbose" for check-config only); extract-html and extract-text
 * are internal (the extractor's children, cli/extract_cmd.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/log.h"
#include "base/version.h"
#include "cli/db.h"
#include "cli/extract_cmd.h"
#include "cli/publish.h"
#include "cli/tasks.h"
#include "cli/webhooks.h"
#include "master/master.h"
#include "worker/preflight.h"
#include "worker/worker.h"

#define MAX_OVERRIDES 256
#define MAX_ARGS      16

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ragws [-c FILE] [-o section.key=value]...          serve\n"
            "       ragws check-config [-v] [-c FILE] [-o ...]         validate, do not serve\n"
            "       ragws publish CHANNEL JSON [-c FILE] [-o ...]      broadcast via the running "
            "server\n"
            "       ragws publish project PROJECT_ID EVENT DATA_JSON   Socket.IO room event\n"
            "       ragws publish document-status PROJECT_ID DOC_ID STATUS PROGRESS\n"
            "       ragws publish project-update PROJECT_ID TYPE DATA_JSON\n"
            "       ragws migrate [-c FILE] [-o ...]                   apply database migrations\n"
            "       ragws ingest COLLECTION FILE... [-c FILE] [-o ...] index PDF, image, HTML, "
            "text files\n"
            "       ragws tasks [--status S] [-c FILE] [-o ...]        list ingestion tasks\n"
            "       ragws webhooks list [--status S] | retry ID         outbound webhook "
            "deliveries\n"
            "       ragws version | -v | -V | --version            print the version\n"
            "       ragws extract-html FILE | extract-text FILE    internal: the text of a file, "
            "as ingestion runs it\n"
            "Without -c, ./ragws.conf is used if present, else built-in defaults.\n");
}

/* The command line, as parse_args reads it. */
typedef struct cli_args {
    const char *path; /* -c FILE, or NULL */
    char *overrides[MAX_OVERRIDES];
    int n_over;
    int verbose;
    char *args[MAX_ARGS]; /* positional: the subcommand and its words */
    int n_args;
    int argc; /* the whole command line (ingest reads its files from it) */
    char **argv;
} cli_args_t;

/* Fills a; returns -1 to go on, or the exit code of the process. */
static int parse_args(int argc, char **argv, cli_args_t *a)
{
    a->argc = argc;
    a->argv = argv;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if ((strcmp(s, "-c") == 0 || strcmp(s, "-o") == 0) && i + 1 >= argc) {
            fprintf(stderr, "ragws: %s needs a value\n", s);
            return 2;
        }
        if (strcmp(s, "-c") == 0) {
            a->path = argv[++i];
        } else if (strcmp(s, "-o") == 0) {
            if (a->n_over == MAX_OVERRIDES) {
                fprintf(stderr, "ragws: too many -o options\n");
                return 2;
            }
            a->overrides[a->n_over++] = argv[++i];
        } else if (strcmp(s, "-v") == 0) {
            a->verbose = 1; /* check-config -v; otherwise it asks for the version */
        } else if (strcmp(s, "-V") == 0 || strcmp(s, "--version") == 0) {
            printf("ragws %s\n", RAGWS_VERSION);
            return 0;
        } else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (s[0] == '-' && s[1] && strcmp(s, "--status") != 0) { /* ragws tasks --status */
            fprintf(stderr, "ragws: unknown option %s\n", s);
            usage(stderr);
            return 2;
        } else if (a->n_args < MAX_ARGS) {
            a->args[a->n_args++] = argv[i];
        }
    }
    return -1;
}

static int cmd_check_config(ragws_config_t *cfg, const cli_args_t *a)
{
    printf("%s: OK (listen %s:%u, %d workers)\n", a->path ? a->path : "(defaults)",
           cfg->listen_host, cfg->listen_port, config_worker_count(cfg));
    if (a->verbose) config_dump(cfg, stdout);
    return 0;
}

static int cmd_publish(ragws_config_t *cfg, const cli_args_t *a)
{
    if (a->n_args >= 2 &&
        (strcmp(a->args[1], "project") == 0 || strcmp(a->args[1], "document-status") == 0 ||
         strcmp(a->args[1], "project-update") == 0))
        return cli_publish_project(cfg, a->n_args - 1, a->args + 1);
    if (a->n_args != 3) {
        fprintf(stderr, "usage: ragws publish CHANNEL JSON [-c FILE]\n");
        return 2;
    }
    return cli_publish(cfg, a->args[1], a->args[2]);
}

static int cmd_db(ragws_config_t *cfg, const cli_args_t *a)
{
    return cli_db_command(a->args[0], cfg, a->argc, a->argv);
}

static int cmd_tasks(ragws_config_t *cfg, const cli_args_t *a)
{
    return cli_tasks(cfg, a->argc, a->argv);
}

static int cmd_webhooks(ragws_config_t *cfg, const cli_args_t *a)
{
    /* --status S: S is a positional word of parse_args too. */
    int n = a->n_args;
    if (n == 4 && strcmp(a->args[1], "list") == 0) n = 2;
    return cli_webhooks(cfg, n, a->args, a->argc, a->argv);
}

/* Frees cfg on every path (master_run owns it from its start). */
static int cmd_serve(ragws_config_t *cfg, const cli_args_t *a)
{
    if (a->n_args > 1) {
        usage(stderr);
        free(cfg);
        return 2;
    }
    if (cli_db_check_schema(cfg, a->overrides, a->n_over) != 0) { /* older schema: refuse */
        free(cfg);
        return 1;
    }
    return master_run(cfg, a->overrides, a->n_over, worker_main);
}

/* The subcommands, after the config is loaded. preflight: run the checks
 * the workers run at start (keys, auth.algorithms, auth.endpoints) and
 * refuse here what they would refuse. owns_cfg: run frees the config. */
static const struct subcommand {
    const char *name;
    int preflight;
    int owns_cfg;
    int (*run)(ragws_config_t *cfg, const cli_args_t *a);
} COMMANDS[] = {
    {"check-config", 1, 0, cmd_check_config},
    {"publish", 0, 0, cmd_publish},
    {"migrate", 0, 0, cmd_db},
    {"ingest", 0, 0, cmd_db},
    {"tasks", 0, 0, cmd_tasks},
    {"webhooks", 0, 0, cmd_webhooks},
    {"serve", 1, 1, cmd_serve},
};

static const struct subcommand *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(COMMANDS[i].name, name) == 0) return &COMMANDS[i];
    return NULL;
}

int main(int argc, char **argv)
{
    cli_args_t a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    const char *cmd = a.n_args ? a.args[0] : "serve";
    if (strcmp(cmd, "version") == 0 || (a.verbose && strcmp(cmd, "check-config") != 0)) {
        printf("ragws %s\n", RAGWS_VERSION);
        return 0;
    }
    /* Extractor children read no configuration. */
    if (cli_is_extract_command(cmd)) return cli_extract_command(a.n_args, a.args);
    if (!a.path && access("ragws.conf", R_OK) == 0) a.path = "ragws.conf";

    ragws_config_t *cfg = calloc(1, sizeof *cfg);
    char err[1024];
    if (!cfg) return 1;
    if (config_load(cfg, a.path, a.overrides, a.n_over, err, sizeof err) < 0) {
        fprintf(stderr, "ragws: %s\n", err);
        free(cfg);
        return 1;
    }
    const struct subcommand *sc = find_command(cmd);
    if (sc && sc->preflight && worker_preflight(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "ragws: %s\n", err);
        free(cfg);
        return 1;
    }
    if (!sc) {
        fprintf(stderr, "ragws: unknown command \"%s\"\n", cmd);
        usage(stderr);
        rc = 2;
    } else {
        rc = sc->run(cfg, &a);
        if (sc->owns_cfg) return rc;
    }
    free(cfg);
    return rc;
}
