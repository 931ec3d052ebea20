/* ragws: command line. `ragws -c FILE [-o section.key=value ...]` serves;
 * subcommands: check-config, publish, version (also -v, -V, --version;
 * -v is "verbose" for check-config only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/db.h"
#include "cli/publish.h"
#include "base/config.h"
#include "worker/api/routes.h"
#include "worker/svc/auth.h"
#include "master/master.h"
#include "base/version.h"
#include "base/log.h"

#define MAX_OVERRIDES 256

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
            "       ragws ingest COLLECTION FILE... [-c FILE] [-o ...] index text/Markdown files\n"
            "       ragws version | -v | -V | --version            print the version\n"
            "Without -c, ./ragws.conf is used if present, else built-in defaults.\n");
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    char *overrides[MAX_OVERRIDES];
    int n_over = 0, verbose = 0;
    char *args[16];
    int n_args = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-c") == 0 || strcmp(a, "-o") == 0) && i + 1 >= argc) {
            fprintf(stderr, "ragws: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "-c") == 0) {
            path = argv[++i];
        } else if (strcmp(a, "-o") == 0) {
            if (n_over == MAX_OVERRIDES) {
                fprintf(stderr, "ragws: too many -o options\n");
                return 2;
            }
            overrides[n_over++] = argv[++i];
        } else if (strcmp(a, "-v") == 0) {
            verbose = 1; /* check-config -v; otherwise it asks for the version */
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("ragws %s\n", RAGWS_VERSION);
            return 0;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ragws: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (n_args < 16) {
            args[n_args++] = argv[i];
        }
    }
    const char *cmd = n_args ? args[0] : "serve";
    if (strcmp(cmd, "version") == 0 || (verbose && strcmp(cmd, "check-config") != 0)) {
        printf("ragws %s\n", RAGWS_VERSION);
        return 0;
    }
    if (!path && access("ragws.conf", R_OK) == 0) path = "ragws.conf";

    ragws_config_t *cfg = calloc(1, sizeof *cfg);
    char err[1024];
    if (!cfg) return 1;
    if (config_load(cfg, path, overrides, n_over, err, sizeof err) < 0) {
        fprintf(stderr, "ragws: %s\n", err);
        free(cfg);
        return 1;
    }
    int rc;
    /* The workers run the same checks (keys, auth.algorithms,
     * auth.endpoints): refuse here what they would refuse at start. */
    if ((strcmp(cmd, "check-config") == 0 || strcmp(cmd, "serve") == 0) &&
        (auth_init(cfg, err, sizeof err) < 0 || routes_check_config(cfg, err, sizeof err) < 0)) {
        fprintf(stderr, "ragws: %s\n", err);
        free(cfg);
        return 1;
    }
    auth_shutdown();
    if (strcmp(cmd, "check-config") == 0) {
        printf("%s: OK (listen %s:%u, %d workers)\n", path ? path : "(defaults)", cfg->listen_host,
               cfg->listen_port, config_worker_count(cfg));
        if (verbose) config_dump(cfg, stdout);
        rc = 0;
    } else if (strcmp(cmd, "publish") == 0 && n_args >= 2 &&
               (strcmp(args[1], "project") == 0 || strcmp(args[1], "document-status") == 0 ||
                strcmp(args[1], "project-update") == 0)) {
        rc = cli_publish_project(cfg, n_args - 1, args + 1);
    } else if (strcmp(cmd, "publish") == 0) {
        if (n_args != 3) {
            fprintf(stderr, "usage: ragws publish CHANNEL JSON [-c FILE]\n");
            rc = 2;
        } else {
            rc = cli_publish(cfg, args[1], args[2]);
        }
    } else if (strcmp(cmd, "migrate") == 0 || strcmp(cmd, "ingest") == 0) {
        rc = cli_db_command(cmd, cfg, argc, argv);
    } else if (strcmp(cmd, "serve") == 0) {
        if (n_args > 1) {
            usage(stderr);
            free(cfg);
            return 2;
        }
        if (cli_db_check_schema(cfg, overrides, n_over) != 0) { /* older schema: refuse */
            free(cfg);
            return 1;
        }
        return master_run(cfg, overrides, n_over); /* owns cfg */
    } else {
        fprintf(stderr, "ragws: unknown command \"%s\"\n", cmd);
        usage(stderr);
        rc = 2;
    }
    free(cfg);
    return rc;
}
