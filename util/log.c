#include "util/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_json;
static int log_min = LOG_INFO;
static char log_role[32] = "ragws";

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_setup(int format_json, int min_level, const char *role)
{
    log_json = format_json;
    log_min = min_level;
    snprintf(log_role, sizeof log_role, "%s", role);
}

void log_msg(int level, const char *fmt, ...)
{
    if (level < log_min) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

    char line[1400];
    int len;
    if (log_json) {
        /* jansson escapes the message; one object per line. */
        json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ts", ts, "level",
                              level_names[level], "role", log_role, "pid",
                              (int)getpid(), "msg", msg);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        len = snprintf(line, sizeof line, "%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        len = snprintf(line, sizeof line, "%s %-5s [%s %d] %s\n", ts,
                       level_names[level], log_role, (int)getpid(), msg);
    }
    if (len > (int)sizeof line - 1) len = (int)sizeof line - 1;
    /* One write per line so lines from several processes do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, (size_t)len);
    (void)w;
}
