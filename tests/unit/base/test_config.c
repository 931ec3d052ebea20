/* Unit tests for master/config.c. Run from the repository root (the test
 * loads the shipped ragws.conf). */
#include "tests/unit/unit.h"
#include "base/config.h"

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];
static char created[32][PATH_MAX];
static int n_created;
static ragws_config_t cfg, other;
static char err[2048];

/* Writes tmpdir/name and returns its path (stable: one buffer per name). */
static const char *write_file(const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    int i = 0;
    while (i < n_created && strcmp(created[i], path) != 0) i++;
    if (i == n_created) {
        if (n_created == 32) {
            fprintf(stderr, "too many test files\n");
            exit(2);
        }
        snprintf(created[n_created++], PATH_MAX, "%s", path);
    }
    FILE *f = fopen(created[i], "w");
    if (!f) {
        perror(created[i]);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
    return created[i];
}

/* Loads text as a config file; returns config_load's result. */
static int load_text(const char *text, const char **path_out)
{
    const char *path = write_file("test.conf", text);
    if (path_out) *path_out = path;
    err[0] = '\0';
    return config_load(&cfg, path, NULL, 0, err, sizeof err);
}

/* Expects text to fail at line with message; compares "path:line: msg". */
static void expect_error(const char *text, int line, const char *msg, int caller_line)
{
    const char *path;
    char want[2048];
    int rc = load_text(text, &path);
    snprintf(want, sizeof want, "%s:%d: %s", path, line, msg);
    if (rc != -1 || strcmp(err, want) != 0) fprintf(stderr, "  (from line %d)\n", caller_line);
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_STR(err, want);
}
#define EXPECT_ERROR(text, line, msg) expect_error((text), (line), (msg), __LINE__)

/* Loads only overrides; returns config_load's result. */
static int load_overrides(char **ov, int n)
{
    err[0] = '\0';
    return config_load(&cfg, NULL, ov, n, err, sizeof err);
}

static void check_same(const ragws_config_t *a, const ragws_config_t *b)
{
    CHECK_EQ_STR(a->listen_host, b->listen_host);
    CHECK_EQ_INT(a->listen_port, b->listen_port);
    CHECK_EQ_INT(a->workers, b->workers);
    CHECK_EQ_INT(a->drain_timeout_ms, b->drain_timeout_ms);
    CHECK_EQ_INT(a->max_message_bytes, b->max_message_bytes);
    CHECK_EQ_INT(a->max_connections, b->max_connections);
    CHECK_EQ_INT(a->max_connections_per_ip, b->max_connections_per_ip);
    CHECK_EQ_INT(a->max_header_bytes, b->max_header_bytes);
    CHECK_EQ_INT(a->max_body_bytes, b->max_body_bytes);
    CHECK_EQ_INT(a->handshake_timeout_ms, b->handshake_timeout_ms);
    CHECK_EQ_INT(a->send_buffer_limit, b->send_buffer_limit);
    CHECK_EQ_INT(a->keepalive_interval_ms, b->keepalive_interval_ms);
    CHECK_EQ_INT(a->keepalive_timeout_ms, b->keepalive_timeout_ms);
    CHECK(a->rate_limit == b->rate_limit);
    CHECK_EQ_INT(a->rate_burst, b->rate_burst);
    CHECK_EQ_INT(a->rate_limit_strikes, b->rate_limit_strikes);
    CHECK_EQ_INT(a->monitor_interval_ms, b->monitor_interval_ms);
    CHECK(a->cpu_alert_percent == b->cpu_alert_percent);
    CHECK(a->memory_alert_percent == b->memory_alert_percent);
    CHECK_EQ_INT(a->error_alert_count, b->error_alert_count);
    CHECK_EQ_STR(a->admin_token_file, b->admin_token_file);
    CHECK_EQ_STR(a->admin_token, b->admin_token);
    CHECK_EQ_STR(a->allowed_origins_raw, b->allowed_origins_raw);
    CHECK_EQ_INT(a->n_allowed_origins, b->n_allowed_origins);
    for (size_t i = 0; i < a->n_allowed_origins && i < b->n_allowed_origins; i++)
        CHECK_EQ_STR(a->allowed_origins[i], b->allowed_origins[i]);
    CHECK_EQ_INT(a->allow_any_origin, b->allow_any_origin);
    CHECK_EQ_INT(a->ring_size, b->ring_size);
    CHECK_EQ_INT(a->log_format, b->log_format);
    CHECK_EQ_INT(a->log_level, b->log_level);
}

static void test_defaults(void)
{
    config_defaults(&cfg);
    CHECK_EQ_STR(cfg.listen_host, "0.0.0.0");
    CHECK_EQ_INT(cfg.listen_port, 8000);
    CHECK_EQ_INT(cfg.workers, 0);
    CHECK_EQ_INT(cfg.drain_timeout_ms, 10000);
    CHECK_EQ_INT(cfg.max_message_bytes, 1 << 20);
    CHECK_EQ_INT(cfg.max_connections, 10000);
    CHECK_EQ_INT(cfg.max_connections_per_ip, 0);
    CHECK_EQ_INT(cfg.max_header_bytes, 8192);
    CHECK_EQ_INT(cfg.max_body_bytes, 1 << 20);
    CHECK_EQ_INT(cfg.handshake_timeout_ms, 10000);
    CHECK_EQ_INT(cfg.send_buffer_limit, 4 << 20);
    CHECK_EQ_INT(cfg.keepalive_interval_ms, 30000);
    CHECK_EQ_INT(cfg.keepalive_timeout_ms, 10000);
    CHECK(cfg.rate_limit == 100.0);
    CHECK_EQ_INT(cfg.rate_burst, 200);
    CHECK_EQ_INT(cfg.rate_limit_strikes, 20);
    CHECK_EQ_INT(cfg.monitor_interval_ms, 5000);
    CHECK(cfg.cpu_alert_percent == 90.0);
    CHECK(cfg.memory_alert_percent == 90.0);
    CHECK_EQ_INT(cfg.error_alert_count, 100);
    CHECK_EQ_STR(cfg.admin_token_file, "");
    CHECK_EQ_STR(cfg.admin_token, "");
    CHECK_EQ_STR(cfg.allowed_origins_raw, "*");
    CHECK_EQ_INT(cfg.allow_any_origin, 1);
    CHECK_EQ_INT(cfg.n_allowed_origins, 0);
    CHECK_EQ_INT(cfg.ring_size, 16 << 20);
    CHECK_EQ_INT(cfg.log_format, LOG_FORMAT_TEXT);
    CHECK_EQ_INT(cfg.log_level, LOG_LEVEL_INFO);
    CHECK_EQ_STR(cfg.path, "");

    /* no file, no overrides: the same defaults */
    CHECK_EQ_INT(config_load(&other, NULL, NULL, 0, err, sizeof err), 0);
    check_same(&cfg, &other);
}

static void test_shipped_conf_is_defaults(void)
{
    int rc = config_load(&cfg, "ragws.conf", NULL, 0, err, sizeof err);
    if (rc) fprintf(stderr, "  %s\n", err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(cfg.path, "ragws.conf");
    config_defaults(&other);
    check_same(&cfg, &other);
}

/* Collects "section.key" of every key in an INI file, in order. */
struct keylist {
    char keys[128][64];
    int n;
};

static int collect_key(void *user, const char *section, const char *name, const char *value)
{
    struct keylist *l = user;
    if (l->n < 128) snprintf(l->keys[l->n++], sizeof l->keys[0], "%s.%s", section, name);
    return 1;
}

static void test_shipped_conf_has_every_key(void)
{
    struct keylist shipped = {0}, dumped = {0};
    CHECK_EQ_INT(ini_parse("ragws.conf", collect_key, &shipped), 0);

    config_defaults(&cfg);
    const char *path = write_file("dump_defaults.conf", "");
    FILE *f = fopen(path, "w");
    config_dump(&cfg, f);
    fclose(f);
    CHECK_EQ_INT(ini_parse(path, collect_key, &dumped), 0);

    CHECK(dumped.n >= 24); /* every key of the table, at least the first issue's */
    CHECK_EQ_INT(shipped.n, dumped.n);
    for (int i = 0; i < dumped.n && i < shipped.n; i++)
        CHECK_EQ_STR(shipped.keys[i], dumped.keys[i]);
}

static void test_durations(void)
{
    int rc = load_text("[server]\n"
                       "drain_timeout = 0.25\n"
                       "[limits]\n"
                       "handshake_timeout = 500ms\n"
                       "keepalive_interval = 2m\n"
                       "keepalive_timeout = 1.5s\n"
                       "[monitor]\n"
                       "interval = 1h\n",
                       NULL);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(cfg.drain_timeout_ms, 250);
    CHECK_EQ_INT(cfg.handshake_timeout_ms, 500);
    CHECK_EQ_INT(cfg.keepalive_interval_ms, 120000);
    CHECK_EQ_INT(cfg.keepalive_timeout_ms, 1500);
    CHECK_EQ_INT(cfg.monitor_interval_ms, 3600000);

    CHECK_EQ_INT(config_set(&cfg, "server", "drain_timeout", "7", err, sizeof err), 0);
    CHECK_EQ_INT(cfg.drain_timeout_ms, 7000);
    CHECK_EQ_INT(config_set(&cfg, "server", "drain_timeout", "24h", err, sizeof err), 0);
    CHECK_EQ_INT(cfg.drain_timeout_ms, 86400000);

    static const char *const bad[] = {"",    "s",     "-1",    "1e3", "0x10",
                                      "1 s", "10sec", "1.2.3", "inf", "nan"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[256];
        snprintf(
            want, sizeof want,
            "server.drain_timeout: \"%s\" is not a duration (e.g. 30, 0.25, 500ms, 30s, 2m, 1h)",
            bad[i]);
        CHECK_EQ_INT(config_set(&cfg, "server", "drain_timeout", bad[i], err, sizeof err), -1);
        CHECK_EQ_STR(err, want);
    }
    CHECK_EQ_INT(config_set(&cfg, "server", "drain_timeout", "0", err, sizeof err), -1);
    CHECK_EQ_STR(err, "server.drain_timeout: 0 is out of range (1ms..24h)");
    CHECK_EQ_INT(config_set(&cfg, "server", "drain_timeout", "0.0001", err, sizeof err), -1);
    CHECK_EQ_INT(config_set(&cfg, "server", "drain_timeout", "25h", err, sizeof err), -1);
    CHECK_EQ_INT(
        config_set(&cfg, "server", "drain_timeout", "99999999999999999999999h", err, sizeof err),
        -1);
    CHECK_EQ_INT(cfg.drain_timeout_ms, 86400000); /* failed sets change nothing */
}

static void test_sizes(void)
{
    int rc = load_text("[limits]\n"
                       "max_message_bytes = 64KiB\n"
                       "max_body_bytes = 12345\n"
                       "send_buffer_limit = 1MiB\n"
                       "max_header_bytes = 2K\n"
                       "[shm]\n"
                       "ring_size = 1G\n",
                       NULL);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(cfg.max_message_bytes, 65536);
    CHECK_EQ_INT(cfg.max_body_bytes, 12345);
    CHECK_EQ_INT(cfg.send_buffer_limit, 1048576);
    CHECK_EQ_INT(cfg.max_header_bytes, 2048);
    CHECK_EQ_INT(cfg.ring_size, 1073741824);

    static const struct {
        const char *text;
        size_t bytes;
    } ok[] = {
        {"1KB", 1024},     {"1KiB", 1024},   {"3M", 3 << 20},   {"3MB", 3 << 20},
        {"2MiB", 2 << 20}, {"1GB", 1 << 30}, {"1GiB", 1 << 30}, {"16", 16},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        CHECK_EQ_INT(config_set(&cfg, "limits", "max_body_bytes", ok[i].text, err, sizeof err), 0);
        CHECK_EQ_INT(cfg.max_body_bytes, ok[i].bytes);
    }

    static const char *const bad[] = {"", "12x", "1.5MiB", "-1", "MiB", "1 MiB", "1TiB", "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[256];
        snprintf(want, sizeof want,
                 "limits.max_message_bytes: \"%s\" is not a size (e.g. 1048576, 64KiB, 1MiB)",
                 bad[i]);
        CHECK_EQ_INT(config_set(&cfg, "limits", "max_message_bytes", bad[i], err, sizeof err), -1);
        CHECK_EQ_STR(err, want);
    }
    CHECK_EQ_INT(config_set(&cfg, "limits", "max_message_bytes", "15", err, sizeof err), -1);
    CHECK_EQ_STR(err, "limits.max_message_bytes: 15 is out of range (16..64MiB)");
    CHECK_EQ_INT(config_set(&cfg, "limits", "max_message_bytes", "65MiB", err, sizeof err), -1);
    CHECK_EQ_STR(err, "limits.max_message_bytes: 65MiB is out of range (16..64MiB)");
    /* overflow is an error, not a wrap-around */
    CHECK_EQ_INT(
        config_set(&cfg, "limits", "max_message_bytes", "99999999999999999999", err, sizeof err),
        -1);
    CHECK_EQ_INT(config_set(&cfg, "limits", "max_message_bytes", "17179869184G", err, sizeof err),
                 -1);
    CHECK_EQ_STR(err, "limits.max_message_bytes: 17179869184G is out of range (16..64MiB)");
    CHECK_EQ_INT(cfg.max_message_bytes, 65536);
}

static void test_numbers(void)
{
    CHECK_EQ_INT(config_set(&cfg, "limits", "rate_limit", "0.5", err, sizeof err), 0);
    CHECK(cfg.rate_limit == 0.5);
    CHECK_EQ_INT(config_set(&cfg, "limits", "rate_limit", "0", err, sizeof err), -1);
    CHECK_EQ_STR(err, "limits.rate_limit: 0 is out of range (more than 0)");
    CHECK_EQ_INT(config_set(&cfg, "limits", "rate_limit", "fast", err, sizeof err), -1);
    CHECK_EQ_STR(err, "limits.rate_limit: \"fast\" is not a number (more than 0)");
    CHECK_EQ_INT(config_set(&cfg, "limits", "rate_limit", "inf", err, sizeof err), -1);

    CHECK_EQ_INT(config_set(&cfg, "monitor", "cpu_alert_percent", "75.5", err, sizeof err), 0);
    CHECK(cfg.cpu_alert_percent == 75.5);
    CHECK_EQ_INT(config_set(&cfg, "monitor", "memory_alert_percent", "100.1", err, sizeof err), -1);
    CHECK_EQ_STR(err, "monitor.memory_alert_percent: 100.1 is out of range (0..100)");

    CHECK_EQ_INT(config_set(&cfg, "limits", "max_connections", "1000000", err, sizeof err), 0);
    CHECK_EQ_INT(cfg.max_connections, 1000000);
    CHECK_EQ_INT(config_set(&cfg, "limits", "max_connections", "0", err, sizeof err), -1);
    CHECK_EQ_STR(err, "limits.max_connections: 0 is out of range (1..1000000)");
    CHECK_EQ_INT(config_set(&cfg, "limits", "max_connections", "12.5", err, sizeof err), -1);
    CHECK_EQ_STR(err, "limits.max_connections: \"12.5\" is not a whole number (1..1000000)");
    CHECK_EQ_INT(config_set(&cfg, "limits", "rate_burst", "0", err, sizeof err), -1);
    CHECK_EQ_INT(config_set(&cfg, "limits", "rate_burst", "4294967296", err, sizeof err), -1);
    CHECK_EQ_INT(config_set(&cfg, "limits", "rate_burst", "99999999999999999999", err, sizeof err),
                 -1);
    CHECK_EQ_INT(config_set(&cfg, "limits", "rate_burst", "1", err, sizeof err), 0);
    CHECK_EQ_INT(config_set(&cfg, "limits", "max_connections_per_ip", "0", err, sizeof err), 0);

    CHECK_EQ_INT(config_set(&cfg, "log", "format", "json", err, sizeof err), 0);
    CHECK_EQ_INT(cfg.log_format, LOG_FORMAT_JSON);
    CHECK_EQ_INT(config_set(&cfg, "log", "level", "WARN", err, sizeof err), 0);
    CHECK_EQ_INT(cfg.log_level, LOG_LEVEL_WARN);
    CHECK_EQ_INT(config_set(&cfg, "log", "level", "verbose", err, sizeof err), -1);
    CHECK_EQ_STR(err, "log.level: \"verbose\" is not one of debug, info, warn, error");
}

static void test_listen(void)
{
    CHECK_EQ_INT(config_set(&cfg, "server", "listen", "127.0.0.1:9001", err, sizeof err), 0);
    CHECK_EQ_STR(cfg.listen_host, "127.0.0.1");
    CHECK_EQ_INT(cfg.listen_port, 9001);
    CHECK_EQ_INT(config_set(&cfg, "server", "listen", "[::]:8000", err, sizeof err), 0);
    CHECK_EQ_STR(cfg.listen_host, "::");
    CHECK_EQ_INT(cfg.listen_port, 8000);
    CHECK_EQ_INT(config_set(&cfg, "server", "listen", "[::1]:65535", err, sizeof err), 0);
    CHECK_EQ_STR(cfg.listen_host, "::1");
    CHECK_EQ_INT(cfg.listen_port, 65535);

    CHECK_EQ_INT(config_set(&cfg, "server", "listen", "0.0.0.0:0", err, sizeof err), -1);
    CHECK_EQ_STR(err, "server.listen: port 0 is out of range (1..65535)");
    CHECK_EQ_INT(config_set(&cfg, "server", "listen", "0.0.0.0:65536", err, sizeof err), -1);
    CHECK_EQ_STR(err, "server.listen: port 65536 is out of range (1..65535)");
    CHECK_EQ_INT(config_set(&cfg, "server", "listen", "0.0.0.0", err, sizeof err), -1);
    CHECK_EQ_STR(err, "server.listen: \"0.0.0.0\" is not host:port "
                      "(e.g. 0.0.0.0:8000, 127.0.0.1:8000, [::]:8000)");
    CHECK_EQ_INT(config_set(&cfg, "server", "listen", "::1:80", err, sizeof err), -1);
    CHECK_EQ_STR(err, "server.listen: \"::1:80\": IPv6 addresses go in brackets (e.g. [::1]:8000)");
    CHECK_EQ_INT(config_set(&cfg, "server", "listen", "localhost:80", err, sizeof err), -1);
    CHECK_EQ_STR(err, "server.listen: \"localhost\" is not an IP address "
                      "(e.g. 0.0.0.0:8000, 127.0.0.1:8000, [::]:8000)");
    static const char *const bad[] = {
        "",        ":80",   "1.2.3.4:",     "1.2.3.4:x",    "1.2.3.4:-1", "[::1]",
        "[::1]80", "[]:80", "[1.2.3.4]:80", "256.0.0.1:80", "1.2.3.4:80 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(config_set(&cfg, "server", "listen", bad[i], err, sizeof err), -1);
    /* failed sets leave the last good value */
    CHECK_EQ_STR(cfg.listen_host, "::1");
    CHECK_EQ_INT(cfg.listen_port, 65535);
}

static void test_workers(void)
{
    CHECK_EQ_INT(load_text("[server]\nworkers = 4\n", NULL), 0);
    CHECK_EQ_INT(cfg.workers, 4);
    CHECK_EQ_INT(config_worker_count(&cfg), 4);
    CHECK_EQ_INT(load_text("[server]\nworkers = auto\n", NULL), 0);
    CHECK_EQ_INT(cfg.workers, 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_EQ_INT(config_worker_count(&cfg), cpus < 1 ? 1 : cpus > 64 ? 64 : cpus);
    CHECK_EQ_INT(config_set(&cfg, "server", "workers", "64", err, sizeof err), 0);
    CHECK_EQ_INT(config_worker_count(&cfg), 64);

    CHECK_EQ_INT(config_set(&cfg, "server", "workers", "0", err, sizeof err), -1);
    CHECK_EQ_STR(err, "server.workers: 0 is out of range (auto or 1..64)");
    CHECK_EQ_INT(config_set(&cfg, "server", "workers", "65", err, sizeof err), -1);
    CHECK_EQ_STR(err, "server.workers: 65 is out of range (auto or 1..64)");
    CHECK_EQ_INT(config_set(&cfg, "server", "workers", "many", err, sizeof err), -1);
    CHECK_EQ_STR(err, "server.workers: \"many\" is not a number (auto or 1..64)");
    CHECK_EQ_INT(cfg.workers, 64);
}

static void test_error_lines(void)
{
    EXPECT_ERROR("[server]\nworkers = 2\nfoo = 1\n", 3, "unknown key \"foo\" in section [server]");
    EXPECT_ERROR("# comment\n\n[server]\n[bar]\nx = 1\n", 4, "unknown section [bar]");
    EXPECT_ERROR("[log]\nlevel = info\n[bar]\n", 3, "unknown section [bar]"); /* even when empty */
    EXPECT_ERROR("[limits]\nmax_message_bytes = 12x\n", 2,
                 "limits.max_message_bytes: \"12x\" is not a size (e.g. 1048576, 64KiB, 1MiB)");
    EXPECT_ERROR("[limits]\n\n; why\nkeepalive_interval = 30 s\n", 4,
                 "limits.keepalive_interval: \"30 s\" is not a duration "
                 "(e.g. 30, 0.25, 500ms, 30s, 2m, 1h)");
    EXPECT_ERROR("[server]\nlisten = 0.0.0.0:8000\nworkers = 0\n", 3,
                 "server.workers: 0 is out of range (auto or 1..64)");
    EXPECT_ERROR("# top\nworkers = 4\n[server]\n", 2,
                 "key \"workers\" is outside any section (put it under its [section])");
    EXPECT_ERROR("[server]\nworkers 4\n", 2, "expected [section] or key = value");
    EXPECT_ERROR("[server\nworkers = 4\n", 1, "expected [section] or key = value");
    /* the first error is the one reported */
    EXPECT_ERROR("[server]\nworkers = 99\nbogus\nfoo = 1\n", 2,
                 "server.workers: 99 is out of range (auto or 1..64)");
    EXPECT_ERROR("[server]\nbogus\nworkers = 99\n", 2, "expected [section] or key = value");
    /* CRLF line ends and a lost continuation-looking line count right */
    EXPECT_ERROR("[server]\r\nworkers = 2\r\n  workers = 70\r\n", 3,
                 "server.workers: 70 is out of range (auto or 1..64)");

    CHECK_EQ_INT(config_load(&cfg, "/nonexistent/ragws.conf", NULL, 0, err, sizeof err), -1);
    CHECK_EQ_STR(err, "/nonexistent/ragws.conf: cannot open: No such file or directory");
}

static void test_file_syntax(void)
{
    /* indented keys, inline comments, ':' separator, CRLF, last key wins */
    int rc = load_text("; header\r\n"
                       "[server]\r\n"
                       "    workers = 3 ; three\r\n"
                       "\tdrain_timeout: 2s\r\n"
                       "workers = 5\r\n"
                       "[log]\n"
                       "level=debug\n",
                       NULL);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(cfg.workers, 5);
    CHECK_EQ_INT(cfg.drain_timeout_ms, 2000);
    CHECK_EQ_INT(cfg.log_level, LOG_LEVEL_DEBUG);

    /* a line longer than inih's usual 200 characters is fine */
    char text[4096] = "[cors]\nallowed_origins = ";
    for (int i = 0; i < CONFIG_MAX_ORIGINS; i++) {
        char one[64];
        snprintf(one, sizeof one, "%shttps://app%02d.example.com", i ? ", " : "", i);
        strcat(text, one);
    }
    strcat(text, "\n");
    CHECK_EQ_INT(load_text(text, NULL), 0);
    CHECK_EQ_INT(cfg.n_allowed_origins, CONFIG_MAX_ORIGINS);
    CHECK_EQ_STR(cfg.allowed_origins[31], "https://app31.example.com");

    /* an absurdly long line is reported, not split */
    static char huge[12000];
    memset(huge, 'x', sizeof huge - 1);
    memcpy(huge, "[server]\n# ", 11);
    huge[sizeof huge - 2] = '\n';
    const char *path;
    CHECK_EQ_INT(load_text(huge, &path), -1);
    CHECK(strstr(err, ":2: line is too long") != NULL);
}

static void test_overrides(void)
{
    const char *path = write_file("ov.conf", "[server]\nworkers = 2\n[log]\nlevel = warn\n");
    char *ov[] = {"server.workers=3", "log.format=json", "server.workers = 7 ",
                  "limits.rate_limit=2.5"};
    CHECK_EQ_INT(config_load(&cfg, path, ov, 4, err, sizeof err), 0);
    CHECK_EQ_INT(cfg.workers, 7);                /* overrides beat the file, later beat earlier */
    CHECK_EQ_INT(cfg.log_level, LOG_LEVEL_WARN); /* untouched file value stays */
    CHECK_EQ_INT(cfg.log_format, LOG_FORMAT_JSON);
    CHECK(cfg.rate_limit == 2.5);
    CHECK_EQ_STR(cfg.path, path);

    /* value may contain '=' and may be empty */
    const char *tok = write_file("tok=en", "abc\n");
    char arg[PATH_MAX + 64];
    snprintf(arg, sizeof arg, "auth.admin_token_file=%s", tok);
    char *ov2[] = {arg};
    CHECK_EQ_INT(load_overrides(ov2, 1), 0);
    CHECK_EQ_STR(cfg.admin_token_file, tok);
    CHECK_EQ_STR(cfg.admin_token, "abc");
    char *ov3[] = {arg, "auth.admin_token_file="};
    CHECK_EQ_INT(load_overrides(ov3, 2), 0);
    CHECK_EQ_STR(cfg.admin_token_file, "");
    CHECK_EQ_STR(cfg.admin_token, "");
}

static void test_override_errors(void)
{
    static const char *const malformed[] = {"serverworkers=3", "server.workers", "=3",
                                            ".workers=3",      "server.=3",      "",
                                            "server.workers 3"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        char want[128];
        char *ov[] = {(char *)malformed[i]};
        snprintf(want, sizeof want, "-o %s: expected section.key=value", malformed[i]);
        CHECK_EQ_INT(load_overrides(ov, 1), -1);
        CHECK_EQ_STR(err, want);
    }
    char *bad_value[] = {"server.workers=lots"};
    CHECK_EQ_INT(load_overrides(bad_value, 1), -1);
    CHECK_EQ_STR(err, "-o server.workers: \"lots\" is not a number (auto or 1..64)");
    char *bad_key[] = {"server.foo=1"};
    CHECK_EQ_INT(load_overrides(bad_key, 1), -1);
    CHECK_EQ_STR(err, "-o server.foo: unknown key \"foo\" in section [server]");
    char *bad_section[] = {"log.level=debug", "bar.x=1"};
    CHECK_EQ_INT(load_overrides(bad_section, 2), -1);
    CHECK_EQ_STR(err, "-o bar.x: unknown section [bar]");

    /* a good file with a bad override reports the override */
    const char *path = write_file("ov.conf", "[server]\nworkers = 2\n");
    char *ov[] = {"limits.max_connections=0"};
    CHECK_EQ_INT(config_load(&cfg, path, ov, 1, err, sizeof err), -1);
    CHECK_EQ_STR(err, "-o limits.max_connections: 0 is out of range (1..1000000)");
}

static void test_admin_token(void)
{
    const char *tok = write_file("token", "  s3cret \t\r\nsecond line\n");
    char text[PATH_MAX + 64];
    snprintf(text, sizeof text, "[auth]\nadmin_token_file = %s\n", tok);
    CHECK_EQ_INT(load_text(text, NULL), 0);
    CHECK_EQ_STR(cfg.admin_token_file, tok);
    CHECK_EQ_STR(cfg.admin_token, "  s3cret"); /* only trailing space is stripped */

    write_file("token", "tok"); /* no newline at all */
    CHECK_EQ_INT(load_text(text, NULL), 0);
    CHECK_EQ_STR(cfg.admin_token, "tok");

    write_file("token", " \n");
    const char *path;
    char want[3 * PATH_MAX];
    snprintf(text, sizeof text, "[log]\nlevel = info\n[auth]\nadmin_token_file = %s\n", tok);
    CHECK_EQ_INT(load_text(text, &path), -1);
    snprintf(want, sizeof want,
             "%s:4: auth.admin_token_file: \"%s\" has no token on its first line", path, tok);
    CHECK_EQ_STR(err, want);
    write_file("token", "");
    CHECK_EQ_INT(load_text(text, &path), -1);
    CHECK_EQ_STR(err, want);

    /* missing file: the error points at the line that named it */
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/no-such-token", tmpdir);
    snprintf(text, sizeof text, "[auth]\nadmin_token_file = %s\n\n[log]\nlevel = info\n", missing);
    CHECK_EQ_INT(load_text(text, &path), -1);
    snprintf(want, sizeof want,
             "%s:2: auth.admin_token_file: cannot read \"%s\": No such file or directory", path,
             missing);
    CHECK_EQ_STR(err, want);

    /* ... or at the override that named it */
    char arg[PATH_MAX + 64];
    snprintf(arg, sizeof arg, "auth.admin_token_file=%s", missing);
    char *ov[] = {arg};
    CHECK_EQ_INT(config_load(&cfg, path, ov, 1, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "-o auth.admin_token_file: cannot read \"%s\": No such file or directory", missing);
    CHECK_EQ_STR(err, want);

    /* a directory is not a token file */
    snprintf(arg, sizeof arg, "auth.admin_token_file=%s", tmpdir);
    CHECK_EQ_INT(load_overrides(ov, 1), -1);
    CHECK(strstr(err, "Is a directory") != NULL);

    /* too long for admin_token[] */
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    write_file("token", big);
    snprintf(arg, sizeof arg, "auth.admin_token_file=%s", tok);
    CHECK_EQ_INT(load_overrides(ov, 1), -1);
    CHECK(strstr(err, "is too long (at most 511 bytes)") != NULL);
}

#define ALLOWED(s) config_origin_allowed(&cfg, (s), strlen(s))

static void test_origins(void)
{
    config_defaults(&cfg);
    CHECK(ALLOWED("https://anything.example"));
    CHECK(config_origin_allowed(&cfg, NULL, 0));

    CHECK_EQ_INT(
        load_text("[cors]\nallowed_origins =  https://app.example.com ,https://B.example.com:8443,"
                  "\thttp://localhost:3000\n",
                  NULL),
        0);
    CHECK_EQ_INT(cfg.allow_any_origin, 0);
    CHECK_EQ_INT(cfg.n_allowed_origins, 3);
    CHECK_EQ_STR(cfg.allowed_origins[0], "https://app.example.com");
    CHECK_EQ_STR(cfg.allowed_origins[1], "https://B.example.com:8443");
    CHECK_EQ_STR(cfg.allowed_origins[2], "http://localhost:3000");
    CHECK_EQ_STR(cfg.allowed_origins_raw,
                 "https://app.example.com ,https://B.example.com:8443,\thttp://localhost:3000");
    CHECK(ALLOWED("https://app.example.com"));
    CHECK(ALLOWED("HTTPS://APP.example.COM"));
    CHECK(ALLOWED("https://b.example.com:8443"));
    CHECK(ALLOWED("http://localhost:3000"));
    CHECK(!ALLOWED("https://app.example.com/"));
    CHECK(!ALLOWED("https://app.example.co"));
    CHECK(!ALLOWED("https://app.example.com.evil.com"));
    CHECK(!ALLOWED("http://app.example.com"));
    CHECK(!ALLOWED("https://b.example.com"));
    CHECK(!ALLOWED("null"));
    CHECK(!ALLOWED(""));
    CHECK(!config_origin_allowed(&cfg, NULL, 0));
    /* length bounds the match: no NUL needed, no prefix match */
    CHECK(config_origin_allowed(&cfg, "https://app.example.comXYZ", 23));
    CHECK(!config_origin_allowed(&cfg, "https://app.example.com", 22));

    CHECK_EQ_INT(config_set(&cfg, "cors", "allowed_origins", "", err, sizeof err), 0);
    CHECK_EQ_INT(cfg.n_allowed_origins, 0);
    CHECK(!ALLOWED("https://app.example.com"));
    CHECK_EQ_INT(config_set(&cfg, "cors", "allowed_origins", "*", err, sizeof err), 0);
    CHECK(ALLOWED("https://whatever"));

    CHECK_EQ_INT(config_set(&cfg, "cors", "allowed_origins", "https://a.com/", err, sizeof err),
                 -1);
    CHECK_EQ_STR(err,
                 "cors.allowed_origins: \"https://a.com/\" is not an origin (scheme://host[:port] "
                 "without path or trailing slash, e.g. https://app.example.com)");
    CHECK_EQ_INT(config_set(&cfg, "cors", "allowed_origins", "*, https://a.com", err, sizeof err),
                 -1);
    CHECK_EQ_STR(err, "cors.allowed_origins: * must stand alone, not in a list");
    CHECK_EQ_INT(config_set(&cfg, "cors", "allowed_origins", "https://a.com,,https://b.com", err,
                            sizeof err),
                 -1);
    CHECK_EQ_STR(err, "cors.allowed_origins: empty origin in \"https://a.com,,https://b.com\" "
                      "(expected a comma-separated list)");
    static const char *const bad[] = {"https://a.com,", "app.example.com",       "https://",
                                      "null",           "https://*.example.com", "https://a b.com"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(config_set(&cfg, "cors", "allowed_origins", bad[i], err, sizeof err), -1);

    char many[2048] = "";
    for (int i = 0; i <= CONFIG_MAX_ORIGINS; i++) {
        char one[48];
        snprintf(one, sizeof one, "%shttps://o%d.io", i ? "," : "", i);
        strcat(many, one);
    }
    CHECK_EQ_INT(config_set(&cfg, "cors", "allowed_origins", many, err, sizeof err), -1);
    CHECK_EQ_STR(err, "cors.allowed_origins: too many origins (at most 32)");
    /* rejected lists leave the previous setting */
    CHECK_EQ_INT(cfg.allow_any_origin, 1);
    CHECK_EQ_STR(cfg.allowed_origins_raw, "*");
}

static void test_config_set_names(void)
{
    config_defaults(&cfg);
    CHECK_EQ_INT(config_set(&cfg, "bar", "x", "1", err, sizeof err), -1);
    CHECK_EQ_STR(err, "unknown section [bar]");
    CHECK_EQ_INT(config_set(&cfg, "server", "Workers", "1", err, sizeof err), -1);
    CHECK_EQ_STR(err, "unknown key \"Workers\" in section [server]");
    /* a tiny error buffer truncates instead of overflowing */
    char small[8];
    CHECK_EQ_INT(config_set(&cfg, "bar", "x", "1", small, sizeof small), -1);
    CHECK_EQ_STR(small, "unknown");
    CHECK_EQ_INT(config_set(&cfg, "bar", "x", "1", NULL, 0), -1);
}

static void test_dump_roundtrip(void)
{
    const char *tok = write_file("token", "t0ken\n");
    char text[PATH_MAX + 1024];
    snprintf(text, sizeof text,
             "[server]\nlisten = [::1]:8443\nworkers = 12\ndrain_timeout = 0.25\n"
             "[limits]\nmax_message_bytes = 12345\nmax_connections = 77\n"
             "max_connections_per_ip = 9\nmax_header_bytes = 3KiB\nmax_body_bytes = 5MiB\n"
             "handshake_timeout = 1500ms\nsend_buffer_limit = 1G\nkeepalive_interval = 2m\n"
             "keepalive_timeout = 3h\nrate_limit = 0.1\nrate_burst = 1\nrate_limit_strikes = 3\n"
             "[monitor]\ninterval = 90s\ncpu_alert_percent = 33.3\nmemory_alert_percent = 0\n"
             "error_alert_count = 4\n"
             "[auth]\nadmin_token_file = %s\n"
             "[cors]\nallowed_origins = https://a.example.com, http://b.example.com:81\n"
             "[shm]\nring_size = 65537\n"
             "[log]\nformat = json\nlevel = error\n",
             tok);
    CHECK_EQ_INT(load_text(text, NULL), 0);
    CHECK_EQ_INT(cfg.listen_port, 8443);
    CHECK_EQ_STR(cfg.admin_token, "t0ken");

    const char *dump = write_file("dump.conf", "");
    FILE *f = fopen(dump, "w");
    config_dump(&cfg, f);
    fclose(f);
    int rc = config_load(&other, dump, NULL, 0, err, sizeof err);
    if (rc) fprintf(stderr, "  %s\n", err);
    CHECK_EQ_INT(rc, 0);
    check_same(&cfg, &other);

    /* and the defaults, including empty values */
    config_defaults(&cfg);
    f = fopen(dump, "w");
    config_dump(&cfg, f);
    fclose(f);
    CHECK_EQ_INT(config_load(&other, dump, NULL, 0, err, sizeof err), 0);
    check_same(&cfg, &other);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s", "/tmp/ragws-test-config-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }

    RUN(test_defaults);
    RUN(test_shipped_conf_is_defaults);
    RUN(test_shipped_conf_has_every_key);
    RUN(test_durations);
    RUN(test_sizes);
    RUN(test_numbers);
    RUN(test_listen);
    RUN(test_workers);
    RUN(test_error_lines);
    RUN(test_file_syntax);
    RUN(test_overrides);
    RUN(test_override_errors);
    RUN(test_admin_token);
    RUN(test_origins);
    RUN(test_config_set_names);
    RUN(test_dump_roundtrip);

    for (int i = 0; i < n_created; i++) unlink(created[i]);
    rmdir(tmpdir);
    return UNIT_SUMMARY();
}
