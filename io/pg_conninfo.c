/* postgres.conninfo resolution (see io/pg_conninfo.h). Pure string
 * work on the configuration; no connection is made. */
#include "io/pg_conninfo.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Appends a conninfo value in single quotes (backslash before ' and \),
 * so paths with spaces survive. */
static int append_quoted(char *out, size_t len, size_t *o, const char *v)
{
    if (*o + 1 >= len) return -1;
    out[(*o)++] = '\'';
    for (; *v; v++) {
        if (*v == '\'' || *v == '\\') {
            if (*o + 1 >= len) return -1;
            out[(*o)++] = '\\';
        }
        if (*o + 1 >= len) return -1;
        out[(*o)++] = *v;
    }
    if (*o + 1 >= len) return -1;
    out[(*o)++] = '\'';
    out[*o] = '\0';
    return 0;
}

static int append(char *out, size_t len, size_t *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int append(char *out, size_t len, size_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *o, len - *o, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len - *o) return -1;
    *o += (size_t)n;
    return 0;
}

int db_resolve_conninfo(const ragws_config_t *cfg, char *out, size_t len)
{
    /* libpq counts whole seconds (and waits forever without a timeout). */
    unsigned secs = (cfg->pg_connect_timeout_ms + 999) / 1000;
    if (secs < 1) secs = 1;
    size_t o = 0;
    if (!len) return -1;
    out[0] = '\0';

    if (strcmp(cfg->pg_conninfo, "auto") != 0) {
        const char *ci = cfg->pg_conninfo;
        if (append(out, len, &o, "%s", ci) < 0) return -1;
        if (strstr(ci, "connect_timeout")) return 0;
        if (strncmp(ci, "postgresql://", 13) == 0 || strncmp(ci, "postgres://", 11) == 0)
            return append(out, len, &o, "%sconnect_timeout=%u", strchr(ci, '?') ? "&" : "?", secs);
        return append(out, len, &o, "%sconnect_timeout=%u", ci[0] ? " " : "", secs);
    }

    /* The private cluster of scripts/pg-local.sh: socket in auto_dir/run.
     * Relative to the working directory, like every path in ragws.conf. */
    char dir[PATH_MAX], cwd[PATH_MAX];
    const char *d = cfg->pg_auto_dir;
    if (d[0] != '/') {
        if (!getcwd(cwd, sizeof cwd)) return -1;
        while (d[0] == '.' && d[1] == '/') d += 2;
        int n = snprintf(dir, sizeof dir, "%s/%s", strcmp(cwd, "/") ? cwd : "", d);
        if (n < 0 || (size_t)n >= sizeof dir) return -1;
    } else {
        snprintf(dir, sizeof dir, "%s", d);
    }
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dir[--dl] = '\0';
    char host[PATH_MAX + 8];
    snprintf(host, sizeof host, "%s/run", dir);
    if (append(out, len, &o, "host=") < 0 || append_quoted(out, len, &o, host) < 0) return -1;
    return append(out, len, &o, " port=5432 dbname=ragws user=postgres connect_timeout=%u", secs);
}
