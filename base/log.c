#include "base/log.h"

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

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if none. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    size_t len = p[0] < 0x80                    ? 1
                 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
                 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
                 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                                : 0;
    if (!len || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0;
    if (len == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) return 0;
    return len;
}

/* One record is one line whatever the message holds (PostgreSQL's texts
 * span lines): invalid UTF-8 (e.g. cut by vsnprintf) becomes '?', so the
 * JSON encoder never refuses it; in text format control characters become
 * spaces (JSON escapes them). Trailing whitespace is dropped. */
static void clean_message(char *msg, int json)
{
    unsigned char *p = (unsigned char *)msg;
    size_t n = strlen(msg);
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq(p + i, n - i);
        if (!len) {
            p[i++] = '?';
            continue;
        }
        if (len == 1 && (p[i] < 0x20 || p[i] == 0x7f) && !json) p[i] = ' ';
        i += len;
    }
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == '\t'))
        p[--n] = 0;
}

void log_msg(int level, const char *fmt, ...)
{
    if (level < log_min) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    clean_message(msg, log_json);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

    /* A message of 1023 escaped characters fits: 6 bytes each at most. */
    char line[1024 * 6 + 256];
    int len;
    if (log_json) {
        /* jansson escapes the message; one object per line. */
        json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ts", ts, "level", level_names[level],
                              "role", log_role, "pid", (int)getpid(), "msg", msg);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        len =
            snprintf(line, sizeof line, "%s\n", s ? s : "{\"msg\":\"(log record not encodable)\"}");
        free(s);
        json_decref(o);
    } else {
        len = snprintf(line, sizeof line, "%s %-5s [%s %d] %s\n", ts, level_names[level], log_role,
                       (int)getpid(), msg);
    }
    if (len < 0) return;
    if (len > (int)sizeof line - 1) {
        len = (int)sizeof line - 1;
        line[len - 1] = '\n';
    }
    /* One write per line so lines from several processes do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, (size_t)len);
    (void)w;
}
