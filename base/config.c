/* Configuration loading: ragws.conf through libinih, then the -o
 * overrides, then the values derived from them (admin token, PostgreSQL
 * conninfo); and config_dump. The keys themselves: config_keys.c and
 * config_lists.c (base/config_internal.h says which holds what). */
#include "base/config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- file loading ---- */

struct file_ctx {
    ragws_config_t *cfg;
    FILE *f;
    char *line; /* getline buffer */
    size_t cap;
    int lineno;
    int err_line; /* first error seen by us, 0 = none */
    char err[1024];
    int token_line; /* where auth.admin_token_file was last set */
};

static void note_error(struct file_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note_error(struct file_ctx *c, const char *fmt, ...)
{
    if (c->err_line) return; /* report the first error only */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    c->err_line = c->lineno;
}

/* inih reader: one call per physical line, so c->lineno is the line the
 * handler is looking at (Debian's inih gives the handler no line number). */
static char *read_line(char *buf, int size, void *stream)
{
    struct file_ctx *c = stream;
    if (getline(&c->line, &c->cap, c->f) < 0) return NULL;
    c->lineno++;

    /* inih takes an indented line as the continuation of the previous
     * value; drop the indent so keys may be indented under their section. */
    const char *s = c->line;
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    if (n + 1 >= (size_t)size) { /* keep the line count in step: never split a line */
        note_error(c, "line is too long (at most %d characters)", size - 2);
        buf[0] = '\0';
        return buf;
    }
    memcpy(buf, s, n + 1);

    /* inih calls the handler only for keys; check section names here so an
     * unknown [section] is reported on its own line, even when empty. */
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close) {
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(close - s - 1), s + 1);
            if (!config_known_section(name)) note_error(c, "unknown section [%s]", name);
        }
    }
    return buf;
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
    struct file_ctx *c = user;
    char msg[sizeof c->err];

    if (!*section) {
        note_error(c, "key \"%s\" is outside any section (put it under its [section])", key);
        return 0;
    }
    if (config_set(c->cfg, section, key, value, msg, sizeof msg) != 0) {
        note_error(c, "%s", msg);
        return 0;
    }
    if (strcmp(section, "auth") == 0 && strcmp(key, "admin_token_file") == 0)
        c->token_line = c->lineno;
    return 1;
}

static int load_file(ragws_config_t *cfg, const char *path, int *token_line, char *err,
                     size_t errlen)
{
    struct file_ctx c = {.cfg = cfg};
    c.f = fopen(path, "r");
    if (!c.f) return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));

    /* Debian's inih sizes its line buffer from this at run time; the
     * default of 200 is too short for an origin list or a long path. */
    ini_max_line = LINE_MAX_CHARS;
    int rc = ini_parse_stream(read_line, &c, on_key, &c);
    int read_errno = ferror(c.f) ? errno : 0;
    fclose(c.f);
    free(c.line);

    if (read_errno) return fail(err, errlen, "%s: read error: %s", path, strerror(read_errno));
    if (rc < 0) return fail(err, errlen, "%s: cannot parse: out of memory", path);
    /* inih's own (syntax) errors come back only as a line number */
    if (rc > 0 && (!c.err_line || rc < c.err_line))
        return fail(err, errlen, "%s:%d: expected [section] or key = value", path, rc);
    if (c.err_line) return fail(err, errlen, "%s:%d: %s", path, c.err_line, c.err);
    *token_line = c.token_line;
    return 0;
}

/* First line of the token file, trailing whitespace removed. */
static int read_token(ragws_config_t *cfg, char *msg, size_t len)
{
    const char *path = cfg->admin_token_file;
    FILE *f = fopen(path, "r");
    if (!f) return fail(msg, len, "cannot read \"%s\": %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    int read_errno = n < 0 && ferror(f) ? errno : 0;
    fclose(f);

    int rc = 0;
    if (read_errno) {
        rc = fail(msg, len, "cannot read \"%s\": %s", path, strerror(read_errno));
    } else {
        size_t tlen = n > 0 ? strlen(line) : 0;
        while (tlen && isspace((unsigned char)line[tlen - 1])) tlen--;
        if (!tlen)
            rc = fail(msg, len, "\"%s\" has no token on its first line", path);
        else if (tlen >= sizeof cfg->admin_token)
            rc = fail(msg, len, "token in \"%s\" is too long (at most %zu bytes)", path,
                      sizeof cfg->admin_token - 1);
        else {
            memcpy(cfg->admin_token, line, tlen);
            cfg->admin_token[tlen] = '\0';
        }
    }
    if (line) {
        explicit_bzero(line, cap); /* it held a secret */
        free(line);
    }
    return rc;
}

/* One -o "section.key=value"; *def is the key it set. */
static int apply_override(ragws_config_t *cfg, const char *o, const struct key_def **def, char *err,
                          size_t errlen)
{
    char msg[1024];
    const char *eq = strchr(o, '=');
    const char *dot = eq ? memchr(o, '.', (size_t)(eq - o)) : NULL;
    if (!dot || dot == o || dot + 1 == eq)
        return fail(err, errlen, "-o %s: expected section.key=value", o);

    /* trim like the file parser does, so both accept the same text */
    char section[64], key[64];
    const char *s = o, *se = dot, *k = dot + 1, *ke = eq, *v = eq + 1;
    while (isspace((unsigned char)*s)) s++;
    while (se > s && isspace((unsigned char)se[-1])) se--;
    while (k < ke && isspace((unsigned char)*k)) k++;
    while (ke > k && isspace((unsigned char)ke[-1])) ke--;
    while (isspace((unsigned char)*v)) v++;
    if (se == s || ke == k || (size_t)(se - s) >= sizeof section || (size_t)(ke - k) >= sizeof key)
        return fail(err, errlen, "-o %s: expected section.key=value", o);
    snprintf(section, sizeof section, "%.*s", (int)(se - s), s);
    snprintf(key, sizeof key, "%.*s", (int)(ke - k), k);

    size_t vlen = strlen(v);
    while (vlen && isspace((unsigned char)v[vlen - 1])) vlen--;
    char *value = strndup(v, vlen);
    if (!value) return fail(err, errlen, "-o %s.%s: out of memory", section, key);
    int rc = config_set_by_name(cfg, section, key, value, def, msg, sizeof msg);
    free(value);
    if (rc != 0) return fail(err, errlen, "-o %s.%s: %s", section, key, msg);
    return 0;
}

int config_load(ragws_config_t *cfg, const char *path, char *const *overrides, int n_overrides,
                char *err, size_t errlen)
{
    int token_line = 0; /* file line that set admin_token_file */
    bool token_override = false;
    char msg[1024];

    config_defaults(cfg);
    if (path) {
        if (strlen(path) >= sizeof cfg->path)
            return fail(err, errlen, "%s: cannot open: path is too long", path);
        strcpy(cfg->path, path);
        if (load_file(cfg, path, &token_line, err, errlen) != 0) return -1;
    }

    for (int i = 0; i < n_overrides; i++) {
        const struct key_def *def;
        if (apply_override(cfg, overrides[i], &def, err, errlen) != 0) return -1;
        if (def->off == OFF(admin_token_file)) token_override = true;
    }

    if (cfg->admin_token_file[0] && read_token(cfg, msg, sizeof msg) != 0) {
        if (token_override || !path) return fail(err, errlen, "-o auth.admin_token_file: %s", msg);
        return fail(err, errlen, "%s:%d: auth.admin_token_file: %s", path, token_line, msg);
    }
    return 0;
}

/* ---- derived values: the PostgreSQL conninfo ---- */

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

/* ---- queries and dump ---- */

int config_worker_count(const ragws_config_t *cfg)
{
    if (cfg->workers > 0) return cfg->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return 1;
    return n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

void config_dump(const ragws_config_t *cfg, FILE *out)
{
    char buf[LINE_MAX_CHARS];
    const char *section = NULL;

    fprintf(out, "# ragws configuration%s%s\n", cfg->path[0] ? ": " : "", cfg->path);
    for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
        const struct key_def *k = &CONFIG_KEYS[i];
        if (!section || strcmp(section, k->section) != 0) {
            fprintf(out, "\n[%s]\n", k->section);
            section = k->section;
        }
        config_format_value(cfg, k, buf, sizeof buf);
        fprintf(out, "# %s\n%s =%s%s\n", k->desc, k->key, buf[0] ? " " : "", buf);
    }
}
