/* Configuration: one table of keys drives defaults, parsing and dumping.
 *
 * Each key's default is text parsed by the same code as the file and the
 * -o overrides, so a default can never be something the parser would
 * reject, and config_dump writes values back in a form that parses to the
 * same value. */
#include "base/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define KiB     1024.0
#define MiB     (1024.0 * KiB)
#define GiB     (1024.0 * MiB)
#define SEC_MS  1000.0
#define HOUR_MS 3600000.0
#define DAY_MS  (24 * HOUR_MS)

#define MAX_WORKERS 64

/* Longest line accepted in a file: room for a full origin list or path. */
#define LINE_MAX_CHARS (PATH_MAX + 1024)

enum kind {
    K_LISTEN,   /* host:port -> listen_host, listen_port */
    K_WORKERS,  /* "auto" (0) or min..max -> int */
    K_DURATION, /* -> uint32_t milliseconds */
    K_SIZE,     /* -> size_t bytes */
    K_UINT,     /* -> uint32_t */
    K_DOUBLE,   /* -> double */
    K_PATH,     /* -> char[PATH_MAX], may be empty */
    K_STRING,   /* -> char[PATH_MAX], free text, may be empty */
    K_ORIGINS,  /* "*" or a list -> allowed_origins_raw and the parsed list */
    K_ENUM,     /* one of names[] -> int index */
    K_CIDRS,    /* address/CIDR list -> trusted_proxies_raw and the parsed list */
    K_ALGS,     /* JWT algorithm names -> auth_algorithms_raw and auth_alg_mask */
    K_PATHS,    /* auth.endpoints: "/path" or "/prefix*" items -> char[PATH_MAX] */
};

struct key_def {
    const char *section;
    const char *key;
    enum kind kind;
    const char *def;          /* default, parsed like any other value */
    size_t off;               /* field in ragws_config_t */
    double min, max;          /* numeric range, inclusive, in stored units */
    bool open_min;            /* min itself is not allowed ("more than") */
    const char *const *names; /* K_ENUM: names[i] is stored as i */
    const char *desc;
};

static const char *const LOG_FORMATS[] = {"text", "json", NULL};
static const char *const LOG_LEVELS[] = {"debug", "info", "warn", "error", NULL};
static const char *const AUTH_MODES[] = {"off", "jwt", NULL};
static const char *const LLM_BACKENDS[] = {"builtin", "openai", "ollama", NULL};
static const char *const LLM_ANALYSIS[] = {"rules", "backend", NULL};

#define OFF(field) offsetof(ragws_config_t, field)

static const struct key_def KEYS[] = {
    {"server", "listen", K_LISTEN, "0.0.0.0:8000", OFF(listen_host),
     .desc = "address to listen on: IPv4:port or [IPv6]:port"},
    {"server", "workers", K_WORKERS, "auto", OFF(workers), 1, MAX_WORKERS,
     .desc = "worker processes: auto (one per CPU) or 1..64"},
    {"server", "drain_timeout", K_DURATION, "10s", OFF(drain_timeout_ms), 1, DAY_MS,
     .desc = "on shutdown, how long connections may take to close"},
    {"server", "trusted_proxies", K_CIDRS, "", OFF(trusted_proxies_raw),
     .desc = "proxies whose X-Forwarded-For/Forwarded name the client (addresses or CIDRs)"},

    {"limits", "max_message_bytes", K_SIZE, "1MiB", OFF(max_message_bytes), 16, 64 * MiB,
     .desc = "largest WebSocket message accepted, bytes"},
    {"limits", "max_connections", K_UINT, "10000", OFF(max_connections), 1, 1000000,
     .desc = "open connections, all workers together"},
    {"limits", "max_connections_per_ip", K_UINT, "0", OFF(max_connections_per_ip), 0, 1000000,
     .desc = "open connections per client IP and worker; 0 = no limit"},
    {"limits", "max_header_bytes", K_SIZE, "8KiB", OFF(max_header_bytes), KiB, MiB,
     .desc = "largest HTTP request head (request line and headers), bytes"},
    {"limits", "max_body_bytes", K_SIZE, "1MiB", OFF(max_body_bytes), 1, GiB,
     .desc = "largest REST request body, bytes"},
    {"limits", "handshake_timeout", K_DURATION, "10s", OFF(handshake_timeout_ms), 1, DAY_MS,
     .desc = "time allowed from accept to a complete request head"},
    {"limits", "send_buffer_limit", K_SIZE, "4MiB", OFF(send_buffer_limit), 4 * KiB, GiB,
     .desc = "unsent bytes queued for one connection before it is closed"},
    {"limits", "keepalive_interval", K_DURATION, "30s", OFF(keepalive_interval_ms), 1, DAY_MS,
     .desc = "idle time before the server sends a ping"},
    {"limits", "keepalive_timeout", K_DURATION, "10s", OFF(keepalive_timeout_ms), 1, DAY_MS,
     .desc = "time to wait for the pong before closing"},
    {"limits", "rate_limit", K_DOUBLE, "100", OFF(rate_limit), 0, INFINITY, .open_min = true,
     .desc = "messages per second per connection (token bucket refill)"},
    {"limits", "rate_burst", K_UINT, "200", OFF(rate_burst), 1, UINT32_MAX,
     .desc = "token bucket size: messages allowed in a burst"},
    {"limits", "rate_limit_strikes", K_UINT, "20", OFF(rate_limit_strikes), 1, UINT32_MAX,
     .desc = "RATE_LIMITED errors before the connection is closed (1008)"},
    {"limits", "max_inflight_per_connection", K_UINT, "8", OFF(max_inflight_per_connection), 1,
     1024, .desc = "queries running at once on one connection (TOO_MANY_REQUESTS past it)"},

    {"socketio", "ping_interval", K_DURATION, "25s", OFF(sio_ping_interval_ms), 1, DAY_MS,
     .desc = "Engine.IO pingInterval: the server pings each client this often"},
    {"socketio", "ping_timeout", K_DURATION, "20s", OFF(sio_ping_timeout_ms), 1, DAY_MS,
     .desc = "Engine.IO pingTimeout: time allowed for the pong"},
    {"socketio", "max_payload", K_UINT, "100000", OFF(sio_max_payload), 1024, 1000000,
     .desc = "Engine.IO maxPayload: largest HTTP long-polling body, bytes"},

    {"monitor", "interval", K_DURATION, "5s", OFF(monitor_interval_ms), 1, DAY_MS,
     .desc = "how often resource usage is sampled"},
    {"monitor", "cpu_alert_percent", K_DOUBLE, "90", OFF(cpu_alert_percent), 0, 100,
     .desc = "alert when CPU use crosses this, percent"},
    {"monitor", "memory_alert_percent", K_DOUBLE, "90", OFF(memory_alert_percent), 0, 100,
     .desc = "alert when memory use crosses this, percent"},
    {"monitor", "error_alert_count", K_UINT, "100", OFF(error_alert_count), 1, UINT32_MAX,
     .desc = "alert when this many errors happen in one interval"},

    {"auth", "admin_token_file", K_PATH, "", OFF(admin_token_file),
     .desc = "file holding the admin token (first line); empty: admin from loopback only"},
    {"auth", "mode", K_ENUM, "off", OFF(auth_mode), .names = AUTH_MODES,
     .desc = "off, or jwt: clients of auth.endpoints need a valid token"},
    {"auth", "jwt_secret_file", K_PATH, "", OFF(jwt_secret_file),
     .desc = "HS256 secret (file contents, trailing newline ignored)"},
    {"auth", "jwt_public_key_file", K_PATH, "", OFF(jwt_public_key_file),
     .desc = "PEM public key for RS256/ES256 tokens"},
    {"auth", "endpoints", K_PATHS, "", OFF(auth_endpoints),
     .desc = "paths (or prefix*) needing a token; empty = every WebSocket and non-admin REST "
             "path but /health, /ready, /metrics"},
    {"auth", "algorithms", K_ALGS, "", OFF(auth_algorithms_raw),
     .desc = "accepted JWT algorithms; empty = HS256 (secret), RS256 (RSA), ES256/ES384 (EC)"},
    {"auth", "leeway", K_DURATION, "30s", OFF(auth_leeway_ms), 0, 300000,
     .desc = "clock skew tolerated on exp and nbf"},

    {"postgres", "conninfo", K_STRING, "auto", OFF(pg_conninfo),
     .desc = "libpq connection string, or auto: the private cluster of make run"},
    {"postgres", "auto_dir", K_PATH, "var/pg", OFF(pg_auto_dir),
     .desc = "where the private cluster lives (data and socket) when conninfo = auto"},
    {"postgres", "connect_timeout", K_DURATION, "5s", OFF(pg_connect_timeout_ms), 1, DAY_MS,
     .desc = "time allowed for a connection attempt"},
    {"postgres", "reconnect_max", K_DURATION, "5s", OFF(pg_reconnect_max_ms), 1, DAY_MS,
     .desc = "longest pause between reconnection attempts (backoff ceiling)"},
    {"postgres", "query_timeout", K_DURATION, "10s", OFF(pg_query_timeout_ms), 1, DAY_MS,
     .desc = "a query not answered in this time counts as storage unavailable"},

    {"rag", "default_collection", K_STRING, "documents", OFF(default_collection),
     .desc = "collection searched when a message names none"},
    {"rag", "chunk_chars", K_UINT, "1200", OFF(chunk_chars), 100, 100000,
     .desc = "ingestion: characters per chunk"},
    {"rag", "chunk_overlap", K_UINT, "200", OFF(chunk_overlap), 0, 50000,
     .desc = "ingestion: characters shared by consecutive chunks"},

    {"llm", "backend", K_ENUM, "builtin", OFF(llm_backend), .names = LLM_BACKENDS,
     .desc = "builtin (offline, extractive), openai or ollama"},
    {"llm", "url", K_STRING, "http://127.0.0.1:11434", OFF(llm_url),
     .desc = "backend root URL; /v1/chat/completions or /api/chat is appended"},
    {"llm", "model", K_STRING, "llama3.2", OFF(llm_model),
     .desc = "model name sent to the backend"},
    {"llm", "api_key_file", K_PATH, "", OFF(llm_api_key_file),
     .desc = "file holding the API key (sent as Authorization: Bearer)"},
    {"llm", "connect_timeout", K_DURATION, "5s", OFF(llm_connect_timeout_ms), 1, DAY_MS,
     .desc = "time allowed to connect to the backend"},
    {"llm", "idle_timeout", K_DURATION, "30s", OFF(llm_idle_timeout_ms), 1, DAY_MS,
     .desc = "longest silence from the backend while streaming"},
    {"llm", "max_tokens", K_UINT, "512", OFF(llm_max_tokens), 1, 1000000,
     .desc = "largest answer, tokens (modes use less: fast 1/4, balanced 1/2)"},
    {"llm", "temperature", K_DOUBLE, "0.7", OFF(llm_temperature), 0, 2,
     .desc = "default sampling temperature"},
    {"llm", "retries", K_UINT, "2", OFF(llm_retries), 0, 10,
     .desc = "extra attempts when the backend fails before its first token"},
    {"llm", "builtin_token_delay", K_DURATION, "1ms", OFF(llm_builtin_token_ms), 1, 60000,
     .desc = "builtin backend: pause between streamed tokens"},
    {"llm", "analysis", K_ENUM, "backend", OFF(llm_analysis_backend), .names = LLM_ANALYSIS,
     .desc = "query intent/entities: backend (asked in parallel, rules as fallback) or rules"},

    {"cors", "allowed_origins", K_ORIGINS, "*", OFF(allowed_origins_raw),
     .desc = "* or comma separated origins, e.g. https://app.example.com"},

    {"shm", "ring_size", K_SIZE, "16MiB", OFF(ring_size), 64 * KiB, GiB,
     .desc = "shared broadcast ring, bytes"},

    {"log", "format", K_ENUM, "text", OFF(log_format), .names = LOG_FORMATS,
     .desc = "text or json"},
    {"log", "level", K_ENUM, "info", OFF(log_level), .names = LOG_LEVELS,
     .desc = "debug, info, warn or error"},
};

#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- value formatting (dump and range messages) ---- */

static void format_size(double bytes, char *buf, size_t n)
{
    static const struct {
        double unit;
        const char *suffix;
    } units[] = {
        {GiB, "GiB"},
        {MiB, "MiB"},
        {KiB, "KiB"},
    };
    uint64_t b = (uint64_t)bytes;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        uint64_t u = (uint64_t)units[i].unit;
        if (b >= u && b % u == 0) {
            snprintf(buf, n, "%llu%s", (unsigned long long)(b / u), units[i].suffix);
            return;
        }
    }
    snprintf(buf, n, "%llu", (unsigned long long)b);
}

static void format_duration(double ms, char *buf, size_t n)
{
    uint64_t v = (uint64_t)ms;
    if (v && v % (uint64_t)HOUR_MS == 0)
        snprintf(buf, n, "%lluh", (unsigned long long)(v / (uint64_t)HOUR_MS));
    else if (v && v % 60000 == 0)
        snprintf(buf, n, "%llum", (unsigned long long)(v / 60000));
    else if (v && v % 1000 == 0)
        snprintf(buf, n, "%llus", (unsigned long long)(v / 1000));
    else
        snprintf(buf, n, "%llums", (unsigned long long)v);
}

/* Reads back as the same double; 15 digits keeps 0.1 as "0.1". */
static void format_double(double d, char *buf, size_t n)
{
    snprintf(buf, n, "%.15g", d);
    if (strtod(buf, NULL) != d) snprintf(buf, n, "%.17g", d);
}

static void format_number(const struct key_def *k, double v, char *buf, size_t n)
{
    switch (k->kind) {
    case K_SIZE: format_size(v, buf, n); break;
    case K_DURATION: format_duration(v, buf, n); break;
    case K_DOUBLE: format_double(v, buf, n); break;
    default: snprintf(buf, n, "%.0f", v); break;
    }
}

/* "16..64MiB", "at least 1", "more than 0" ... for error messages. */
static void range_text(const struct key_def *k, char *buf, size_t n)
{
    char lo[32], hi[32];
    format_number(k, k->min, lo, sizeof lo);
    if (isinf(k->max)) {
        snprintf(buf, n, "%s %s", k->open_min ? "more than" : "at least", lo);
        return;
    }
    format_number(k, k->max, hi, sizeof hi);
    if (k->open_min)
        snprintf(buf, n, "more than %s, at most %s", lo, hi);
    else if (k->kind == K_WORKERS)
        snprintf(buf, n, "auto or %s..%s", lo, hi);
    else
        snprintf(buf, n, "%s..%s", lo, hi);
}

static int out_of_range(const struct key_def *k, const char *v, char *msg, size_t len)
{
    char range[96];
    range_text(k, range, sizeof range);
    return fail(msg, len, "%s is out of range (%s)", v, range);
}

static bool in_range(const struct key_def *k, double v)
{
    return (k->open_min ? v > k->min : v >= k->min) && v <= k->max;
}

/* ---- value parsing ---- */

/* Whole-string integer; -1 if not a number, -2 if it does not fit. */
static int parse_integer(const char *v, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end || isspace((unsigned char)*v)) return -1;
    if (errno == ERANGE) return -2;
    *out = n;
    return 0;
}

/* Plain number = seconds, or a number with ms/s/m/h; result in ms. */
static int parse_duration(const char *v, double *ms)
{
    static const struct {
        const char *suffix;
        double ms;
    } units[] = {
        {"", SEC_MS}, {"ms", 1}, {"s", SEC_MS}, {"m", 60 * SEC_MS}, {"h", HOUR_MS},
    };
    const char *p = v;
    size_t digits = 0;
    while (isdigit((unsigned char)*p)) p++, digits++;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++) digits++;
    if (!digits) /* also rejects signs, hex, inf and nan before strtod sees them */
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].suffix) == 0) {
            *ms = strtod(v, NULL) * units[i].ms;
            return 0;
        }
    }
    return -1;
}

/* Integer bytes with an optional binary suffix; -1 bad text, -2 overflow. */
static int parse_size(const char *v, uint64_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"K", 1ULL << 10},
        {"KB", 1ULL << 10},
        {"KiB", 1ULL << 10},
        {"M", 1ULL << 20},
        {"MB", 1ULL << 20},
        {"MiB", 1ULL << 20},
        {"G", 1ULL << 30},
        {"GB", 1ULL << 30},
        {"GiB", 1ULL << 30},
    };
    uint64_t n = 0;
    bool overflow = false;
    const char *p = v;
    if (!isdigit((unsigned char)*p)) return -1;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            n = n * 10 + d;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(p, units[i].suffix) == 0) {
            if (overflow || n > UINT64_MAX / units[i].mult) return -2;
            *out = n * units[i].mult;
            return 0;
        }
    }
    return -1;
}

static int set_listen(ragws_config_t *cfg, const char *v, char *msg, size_t len)
{
    static const char usage[] = "e.g. 0.0.0.0:8000, 127.0.0.1:8000, [::]:8000";
    char host[sizeof cfg->listen_host];
    const char *orig = v, *port;
    size_t hostlen;
    int family;

    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || close[1] != ':')
            return fail(msg, len, "\"%s\" is not host:port (%s)", v, usage);
        hostlen = (size_t)(close - v - 1);
        port = close + 2;
        family = AF_INET6;
        v++;
    } else {
        const char *colon = strrchr(v, ':');
        if (!colon) return fail(msg, len, "\"%s\" is not host:port (%s)", v, usage);
        if (memchr(v, ':', (size_t)(colon - v)))
            return fail(msg, len, "\"%s\": IPv6 addresses go in brackets (e.g. [::1]:8000)", v);
        hostlen = (size_t)(colon - v);
        port = colon + 1;
        family = AF_INET;
    }
    if (hostlen == 0 || hostlen >= sizeof host)
        return fail(msg, len, "\"%s\" is not host:port (%s)", orig, usage);
    memcpy(host, v, hostlen);
    host[hostlen] = '\0';

    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(family, host, addr) != 1)
        return fail(msg, len, "\"%s\" is not an IP address (%s)", host, usage);

    long long p = 0;
    int prc = isdigit((unsigned char)*port) ? parse_integer(port, &p) : -1;
    if (prc == -1) return fail(msg, len, "port \"%s\" is not a number (1..65535)", port);
    if (prc == -2 || p < 1 || p > 65535)
        return fail(msg, len, "port %s is out of range (1..65535)", port);
    memcpy(cfg->listen_host, host, hostlen + 1);
    cfg->listen_port = (uint16_t)p;
    return 0;
}

/* An origin as browsers send it: scheme://host[:port], nothing after. */
static bool is_origin(const char *s)
{
    if (!isalpha((unsigned char)*s)) return false;
    while (isalnum((unsigned char)*s) || *s == '+' || *s == '-' || *s == '.') s++;
    if (strncmp(s, "://", 3) != 0 || !s[3]) return false;
    for (s += 3; *s; s++)
        if (*s == '/' || *s == '*' || *s == '?' || *s == '#' || isspace((unsigned char)*s) ||
            iscntrl((unsigned char)*s))
            return false;
    return true;
}

/* Trimmed items of a comma list, each handed to fn; empty items refused. */
static int each_item(const char *v, char *store, size_t cap, const char *what,
                     int (*fn)(const char *item, void *ud, char *msg, size_t len), void *ud,
                     char *msg, size_t len)
{
    size_t vlen = strlen(v);
    if (vlen >= cap) return fail(msg, len, "list is too long (at most %zu bytes)", cap - 1);
    memcpy(store, v, vlen + 1);
    if (!*store) return 0;
    for (char *item = store;;) {
        char *comma = strchr(item, ',');
        if (comma) *comma = '\0';
        while (isspace((unsigned char)*item)) item++;
        char *end = item + strlen(item);
        while (end > item && isspace((unsigned char)end[-1])) *--end = '\0';
        if (!*item)
            return fail(msg, len, "empty %s in \"%s\" (expected a comma-separated list)", what, v);
        if (fn(item, ud, msg, len) != 0) return -1;
        if (!comma) return 0;
        item = comma + 1;
    }
}

struct origin_acc {
    const char *store;
    size_t offsets[CONFIG_MAX_ORIGINS];
    size_t n;
};

static int add_origin(const char *item, void *ud, char *msg, size_t len)
{
    struct origin_acc *a = ud;
    if (strcmp(item, "*") == 0) return fail(msg, len, "* must stand alone, not in a list");
    if (!is_origin(item))
        return fail(msg, len,
                    "\"%s\" is not an origin (scheme://host[:port] without path or "
                    "trailing slash, e.g. https://app.example.com)",
                    item);
    if (a->n == CONFIG_MAX_ORIGINS)
        return fail(msg, len, "too many origins (at most %d)", CONFIG_MAX_ORIGINS);
    a->offsets[a->n++] = (size_t)(item - a->store);
    return 0;
}

/* Parses into scratch first so a rejected value leaves cfg untouched. */
static int set_origins(ragws_config_t *cfg, const char *v, char *msg, size_t len)
{
    char store[sizeof cfg->origins_store];
    struct origin_acc acc = {.store = store};
    bool any = strcmp(v, "*") == 0;
    if (strlen(v) >= sizeof cfg->allowed_origins_raw)
        return fail(msg, len, "list is too long (at most %zu bytes)",
                    sizeof cfg->allowed_origins_raw - 1);
    if (!any && each_item(v, store, sizeof store, "origin", add_origin, &acc, msg, len) != 0)
        return -1;
    if (any) memcpy(store, v, 2);

    memcpy(cfg->allowed_origins_raw, v, strlen(v) + 1);
    memcpy(cfg->origins_store, store, sizeof store);
    memset(cfg->allowed_origins, 0, sizeof cfg->allowed_origins);
    for (size_t i = 0; i < acc.n; i++)
        cfg->allowed_origins[i] = cfg->origins_store + acc.offsets[i];
    cfg->n_allowed_origins = acc.n;
    cfg->allow_any_origin = any;
    return 0;
}

/* ---- lists: trusted proxies, JWT algorithms, protected paths ---- */

int config_parse_ip(const char *s, size_t len, unsigned char out[16])
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    unsigned char v4[4];
    if (inet_pton(AF_INET, buf, v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, v4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

/* One item "addr" or "addr/bits" into c. */
static int parse_cidr(const char *item, config_cidr_t *c, char *msg, size_t len)
{
    const char *slash = strchr(item, '/');
    size_t alen = slash ? (size_t)(slash - item) : strlen(item);
    if (config_parse_ip(item, alen, c->addr) != 0)
        return fail(msg, len,
                    "\"%s\" is not an IP address or CIDR (e.g. 127.0.0.1, 10.0.0.0/8, ::1)", item);
    bool v4 = memcmp(c->addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 && !strchr(item, ':');
    unsigned max = v4 ? 32 : 128;
    long long bits = max;
    if (slash && (parse_integer(slash + 1, &bits) != 0 || bits < 0 || bits > (long long)max))
        return fail(msg, len, "\"%s\": prefix length must be 0..%u", item, max);
    c->bits = (unsigned)bits + (v4 ? 96 : 0);
    return 0;
}

struct cidr_acc {
    config_cidr_t list[CONFIG_MAX_PROXIES];
    size_t n;
};

static int add_cidr(const char *item, void *ud, char *msg, size_t len)
{
    struct cidr_acc *a = ud;
    if (a->n == CONFIG_MAX_PROXIES)
        return fail(msg, len, "too many entries (at most %d)", CONFIG_MAX_PROXIES);
    return parse_cidr(item, &a->list[a->n++], msg, len);
}

static int set_cidrs(ragws_config_t *cfg, const char *v, char *msg, size_t len)
{
    char store[sizeof cfg->trusted_proxies_raw];
    struct cidr_acc a = {.n = 0};
    if (each_item(v, store, sizeof store, "address", add_cidr, &a, msg, len) != 0) return -1;
    snprintf(cfg->trusted_proxies_raw, sizeof cfg->trusted_proxies_raw, "%s", v);
    memcpy(cfg->trusted_proxies, a.list, sizeof a.list);
    cfg->n_trusted_proxies = a.n;
    return 0;
}

int config_proxy_trusted(const ragws_config_t *cfg, const unsigned char addr[16])
{
    for (size_t i = 0; i < cfg->n_trusted_proxies; i++) {
        const config_cidr_t *c = &cfg->trusted_proxies[i];
        unsigned full = c->bits / 8, rest = c->bits % 8;
        if (memcmp(c->addr, addr, full) != 0) continue;
        unsigned char mask = (unsigned char)(0xff00 >> rest);
        if (rest && ((c->addr[full] ^ addr[full]) & mask)) continue;
        return 1;
    }
    return 0;
}

static const char *const ALG_NAMES[] = {"HS256", "HS384", "HS512", "RS256",
                                        "RS384", "RS512", "ES256", "ES384"};

const char *config_alg_name(uint32_t bit)
{
    for (size_t i = 0; i < sizeof ALG_NAMES / sizeof ALG_NAMES[0]; i++)
        if (bit == 1u << i) return ALG_NAMES[i];
    return NULL;
}

static int add_alg(const char *item, void *ud, char *msg, size_t len)
{
    uint32_t *mask = ud;
    if (strcasecmp(item, "none") == 0)
        return fail(msg, len, "\"none\" (unsigned tokens) is never accepted");
    for (size_t i = 0; i < sizeof ALG_NAMES / sizeof ALG_NAMES[0]; i++) {
        if (strcmp(item, ALG_NAMES[i]) == 0) {
            *mask |= 1u << i;
            return 0;
        }
    }
    return fail(msg, len,
                "unknown JWT algorithm \"%s\" (HS256, HS384, HS512, RS256, RS384, "
                "RS512, ES256, ES384)",
                item);
}

static int set_algs(ragws_config_t *cfg, const char *v, char *msg, size_t len)
{
    char store[sizeof cfg->auth_algorithms_raw];
    uint32_t mask = 0;
    if (each_item(v, store, sizeof store, "algorithm", add_alg, &mask, msg, len) != 0) return -1;
    /* One key verifies every token: a secret and a public key cannot both
     * be meant (HS* against a public key is the algorithm confusion). */
    if ((mask & CONFIG_ALG_HS) && (mask & ~CONFIG_ALG_HS))
        return fail(msg, len, "HS* (shared secret) and RS*/ES* (public key) cannot be mixed");
    snprintf(cfg->auth_algorithms_raw, sizeof cfg->auth_algorithms_raw, "%s", v);
    cfg->auth_alg_mask = mask;
    return 0;
}

static int check_path(const char *item, void *ud, char *msg, size_t len)
{
    (void)ud;
    if (item[0] != '/') return fail(msg, len, "\"%s\" is not a path (it must start with /)", item);
    for (const char *p = item; *p; p++) {
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p) || *p == '?' || *p == '#')
            return fail(msg, len, "\"%s\": a path has no spaces, query or fragment", item);
        if (*p == '*' && p[1])
            return fail(msg, len, "\"%s\": * is allowed only at the end (a prefix)", item);
    }
    return 0;
}

static int set_paths(char *field, const char *v, char *msg, size_t len)
{
    char store[PATH_MAX];
    if (each_item(v, store, sizeof store, "path", check_path, NULL, msg, len) != 0) return -1;
    strcpy(field, v);
    return 0;
}

/* Apply one value; on error msg says what is wrong, without a location. */
static int set_key(ragws_config_t *cfg, const struct key_def *k, const char *v, char *msg,
                   size_t len)
{
    void *field = (char *)cfg + k->off;
    double d;
    long long ll;
    uint64_t u;

    switch (k->kind) {
    case K_LISTEN: return set_listen(cfg, v, msg, len);

    case K_WORKERS: {
        char range[96];
        if (strcasecmp(v, "auto") == 0) {
            *(int *)field = 0;
            return 0;
        }
        switch (parse_integer(v, &ll)) {
        case -1:
            range_text(k, range, sizeof range);
            return fail(msg, len, "\"%s\" is not a number (%s)", v, range);
        case -2: return out_of_range(k, v, msg, len);
        }
        if (!in_range(k, (double)ll)) return out_of_range(k, v, msg, len);
        *(int *)field = (int)ll;
        return 0;
    }

    case K_DURATION:
        if (parse_duration(v, &d))
            return fail(msg, len, "\"%s\" is not a duration (e.g. 30, 0.25, 500ms, 30s, 2m, 1h)",
                        v);
        if (d >= 1e15) /* also keeps the rounding cast below defined */
            return out_of_range(k, v, msg, len);
        d = (double)(uint64_t)(d + 0.5); /* whole milliseconds */
        if (!in_range(k, d)) return out_of_range(k, v, msg, len);
        *(uint32_t *)field = (uint32_t)d;
        return 0;

    case K_SIZE:
        switch (parse_size(v, &u)) {
        case -1: return fail(msg, len, "\"%s\" is not a size (e.g. 1048576, 64KiB, 1MiB)", v);
        case -2: return out_of_range(k, v, msg, len);
        }
        if (!in_range(k, (double)u)) return out_of_range(k, v, msg, len);
        *(size_t *)field = (size_t)u;
        return 0;

    case K_UINT: {
        char range[96];
        switch (parse_integer(v, &ll)) {
        case -1:
            range_text(k, range, sizeof range);
            return fail(msg, len, "\"%s\" is not a whole number (%s)", v, range);
        case -2: return out_of_range(k, v, msg, len);
        }
        if (!in_range(k, (double)ll)) return out_of_range(k, v, msg, len);
        *(uint32_t *)field = (uint32_t)ll;
        return 0;
    }

    case K_DOUBLE: {
        char *end;
        d = strtod(v, &end);
        if (end == v || *end || !isfinite(d) || isspace((unsigned char)*v)) {
            char range[96];
            range_text(k, range, sizeof range);
            return fail(msg, len, "\"%s\" is not a number (%s)", v, range);
        }
        if (!in_range(k, d)) return out_of_range(k, v, msg, len);
        *(double *)field = d;
        return 0;
    }

    case K_PATH:
    case K_STRING:
        if (strlen(v) >= PATH_MAX)
            return fail(msg, len, "path is too long (at most %d bytes)", PATH_MAX - 1);
        strcpy(field, v);
        return 0;

    case K_ORIGINS: return set_origins(cfg, v, msg, len);
    case K_CIDRS: return set_cidrs(cfg, v, msg, len);
    case K_ALGS: return set_algs(cfg, v, msg, len);
    case K_PATHS: return set_paths(field, v, msg, len);

    case K_ENUM: {
        char choices[128] = "";
        for (int i = 0; k->names[i]; i++) {
            if (strcasecmp(v, k->names[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
            size_t used = strlen(choices);
            snprintf(choices + used, sizeof choices - used, "%s%s", i ? ", " : "", k->names[i]);
        }
        return fail(msg, len, "\"%s\" is not one of %s", v, choices);
    }
    }
    return fail(msg, len, "internal error: key without a type");
}

static void format_value(const ragws_config_t *cfg, const struct key_def *k, char *buf, size_t n)
{
    const void *field = (const char *)cfg + k->off;
    switch (k->kind) {
    case K_LISTEN:
        snprintf(buf, n, strchr(cfg->listen_host, ':') ? "[%s]:%u" : "%s:%u", cfg->listen_host,
                 (unsigned)cfg->listen_port);
        break;
    case K_WORKERS:
        if (*(const int *)field)
            snprintf(buf, n, "%d", *(const int *)field);
        else
            snprintf(buf, n, "auto");
        break;
    case K_DURATION: format_duration(*(const uint32_t *)field, buf, n); break;
    case K_SIZE: format_size((double)*(const size_t *)field, buf, n); break;
    case K_UINT: snprintf(buf, n, "%u", (unsigned)*(const uint32_t *)field); break;
    case K_DOUBLE: format_double(*(const double *)field, buf, n); break;
    case K_PATH:
    case K_STRING:
    case K_ORIGINS:
    case K_CIDRS:
    case K_ALGS:
    case K_PATHS: snprintf(buf, n, "%s", (const char *)field); break;
    case K_ENUM: snprintf(buf, n, "%s", k->names[*(const int *)field]); break;
    }
}

/* ---- lookup and public setters ---- */

static bool known_section(const char *section)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(KEYS[i].section, section) == 0) return true;
    return false;
}

/* Finds and applies section.key; *def is the key, or NULL if unknown. */
static int set_by_name(ragws_config_t *cfg, const char *section, const char *key, const char *value,
                       const struct key_def **def, char *msg, size_t len)
{
    *def = NULL;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(KEYS[i].section, section) == 0 && strcmp(KEYS[i].key, key) == 0) {
            *def = &KEYS[i];
            return set_key(cfg, &KEYS[i], value ? value : "", msg, len);
        }
    }
    if (!known_section(section)) return fail(msg, len, "unknown section [%s]", section);
    return fail(msg, len, "unknown key \"%s\" in section [%s]", key, section);
}

void config_defaults(ragws_config_t *cfg)
{
    char msg[256];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_KEYS; i++) {
        if (set_key(cfg, &KEYS[i], KEYS[i].def, msg, sizeof msg) != 0) {
            /* the table contradicts itself: a bug, not a user error */
            fprintf(stderr, "config: bad default for %s.%s: %s\n", KEYS[i].section, KEYS[i].key,
                    msg);
            abort();
        }
    }
}

int config_set(ragws_config_t *cfg, const char *section, const char *key, const char *value,
               char *err, size_t errlen)
{
    const struct key_def *k;
    char msg[512];
    if (set_by_name(cfg, section, key, value, &k, msg, sizeof msg) == 0) return 0;
    if (k) return fail(err, errlen, "%s.%s: %s", section, key, msg);
    return fail(err, errlen, "%s", msg);
}

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
            if (!known_section(name)) note_error(c, "unknown section [%s]", name);
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
        const char *o = overrides[i];
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
        if (se == s || ke == k || (size_t)(se - s) >= sizeof section ||
            (size_t)(ke - k) >= sizeof key)
            return fail(err, errlen, "-o %s: expected section.key=value", o);
        snprintf(section, sizeof section, "%.*s", (int)(se - s), s);
        snprintf(key, sizeof key, "%.*s", (int)(ke - k), k);

        size_t vlen = strlen(v);
        while (vlen && isspace((unsigned char)v[vlen - 1])) vlen--;
        char *value = strndup(v, vlen);
        if (!value) return fail(err, errlen, "-o %s.%s: out of memory", section, key);
        const struct key_def *def;
        int rc = set_by_name(cfg, section, key, value, &def, msg, sizeof msg);
        free(value);
        if (rc != 0) return fail(err, errlen, "-o %s.%s: %s", section, key, msg);
        if (def->off == OFF(admin_token_file)) token_override = true;
    }

    if (cfg->admin_token_file[0] && read_token(cfg, msg, sizeof msg) != 0) {
        if (token_override || !path) return fail(err, errlen, "-o auth.admin_token_file: %s", msg);
        return fail(err, errlen, "%s:%d: auth.admin_token_file: %s", path, token_line, msg);
    }
    return 0;
}

/* ---- queries and dump ---- */

int config_worker_count(const ragws_config_t *cfg)
{
    if (cfg->workers > 0) return cfg->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return 1;
    return n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

int config_origin_allowed(const ragws_config_t *cfg, const char *origin, size_t len)
{
    if (cfg->allow_any_origin) return 1;
    if (!origin) return 0;
    for (size_t i = 0; i < cfg->n_allowed_origins; i++) {
        const char *a = cfg->allowed_origins[i];
        if (strlen(a) == len && strncasecmp(a, origin, len) == 0) return 1;
    }
    return 0;
}

int config_origin_listed(const ragws_config_t *cfg, const char *origin, size_t len)
{
    for (size_t i = 0; origin && i < cfg->n_allowed_origins; i++) {
        const char *a = cfg->allowed_origins[i];
        if (strlen(a) == len && strncasecmp(a, origin, len) == 0) return 1;
    }
    return 0;
}

void config_dump(const ragws_config_t *cfg, FILE *out)
{
    char buf[LINE_MAX_CHARS];
    const char *section = NULL;

    fprintf(out, "# ragws configuration%s%s\n", cfg->path[0] ? ": " : "", cfg->path);
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_def *k = &KEYS[i];
        if (!section || strcmp(section, k->section) != 0) {
            fprintf(out, "\n[%s]\n", k->section);
            section = k->section;
        }
        format_value(cfg, k, buf, sizeof buf);
        fprintf(out, "# %s\n%s =%s%s\n", k->desc, k->key, buf[0] ? " " : "", buf);
    }
}
