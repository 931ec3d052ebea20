/* The key table and its scalar values: each key's default is text parsed
 * by the same code as the file and the -o overrides, so a default can
 * never be something the parser would reject, and config_format_value
 * writes values back in a form that parses to the same value. */
#include "base/config_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const LOG_FORMATS[] = {"text", "json", NULL};
static const char *const LOG_LEVELS[] = {"debug", "info", "warn", "error", NULL};
static const char *const AUTH_MODES[] = {"off", "jwt", NULL};
static const char *const NO_YES[] = {"no", "yes", NULL};
static const char *const LLM_BACKENDS[] = {"builtin", "openai", "ollama", NULL};
static const char *const LLM_ANALYSIS[] = {"rules", "backend", NULL};

const struct key_def CONFIG_KEYS[] = {
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
    {"limits", "max_upload_bytes", K_SIZE, "100MiB", OFF(max_upload_bytes), 1, 64 * GiB,
     .desc = "largest uploaded file (POST /api/collections/{name}/documents), bytes"},
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

    {"conversation", "ping_interval", K_DURATION, "30s", OFF(conv_ping_interval_ms), 100, DAY_MS,
     .desc = "/ws/conversation: the server sends {\"type\":\"ping\"} this often"},
    {"conversation", "pong_timeout", K_DURATION, "10s", OFF(conv_pong_timeout_ms), 100, DAY_MS,
     .desc = "/ws/conversation: closed (1008) when no {\"type\":\"pong\"} comes this long "
             "after a ping"},
    {"conversation", "history_max", K_UINT, "200", OFF(conv_history_max), 1, 100000,
     .desc = "latest inputs of a session the analysis and the REST summaries read"},
    {"conversation", "batch_max", K_UINT, "500", OFF(conv_batch_max), 1, 100000,
     .desc = "messages one POST /api/analyze-batch may carry"},
    {"conversation", "max_pending", K_UINT, "16", OFF(conv_max_pending), 1, 1024,
     .desc = "inputs waiting for analysis on one /ws/conversation connection"},
    {"conversation", "default_session", K_STRING, "default", OFF(conv_default_session),
     .desc = "session of the REST twins called without ?session_id="},

    {"ingest", "upload_dir", K_PATH, "var/uploads", OFF(upload_dir),
     .desc = "where uploaded files are written as they arrive (kept until their task ends)"},
    {"ingest", "max_parallel", K_UINT, "2", OFF(ingest_max_parallel), 1, 256,
     .desc = "ingestion tasks running at once on this node (all workers together)"},
    {"ingest", "max_attempts", K_UINT, "3", OFF(ingest_max_attempts), 1, 100,
     .desc = "claims of one task (a worker died holding it) before it is failed"},
    {"ingest", "lease", K_DURATION, "30s", OFF(ingest_lease_ms), 1000, DAY_MS,
     .desc = "a claimed task is taken again when its worker has not renewed it this long"},
    {"ingest", "poll_interval", K_DURATION, "1s", OFF(ingest_poll_ms), 10, DAY_MS,
     .desc = "how often each worker looks for queued or abandoned tasks"},
    {"ingest", "extract_timeout", K_DURATION, "5m", OFF(extract_timeout_ms), 1, DAY_MS,
     .desc = "an extractor (pdftotext, pdftoppm, tesseract) running longer is killed"},
    {"ingest", "max_extract_bytes", K_SIZE, "64MiB", OFF(extract_max_bytes), KiB, 4 * GiB,
     .desc = "text one extractor may produce before it is killed"},
    {"ingest", "pdftotext", K_STRING, "pdftotext", OFF(pdftotext_cmd),
     .desc = "the pdftotext program (poppler-utils): a name on PATH or a path"},
    {"ingest", "pdftoppm", K_STRING, "pdftoppm", OFF(pdftoppm_cmd),
     .desc = "the pdftoppm program, renders scanned PDF pages for OCR"},
    {"ingest", "tesseract", K_STRING, "tesseract", OFF(tesseract_cmd),
     .desc = "the tesseract OCR program"},
    {"ingest", "ocr_language", K_STRING, "eng", OFF(ocr_language),
     .desc = "tesseract -l: installed language packs joined by + (eng+fra)"},
    {"ingest", "ocr_dpi", K_UINT, "200", OFF(ocr_dpi), 50, 1200,
     .desc = "resolution scanned PDF pages are rendered at before OCR"},
    {"ingest", "progress_interval", K_DURATION, "250ms", OFF(ingest_progress_ms), 1, 60000,
     .desc = "least time between two progress events of one upload (the last is always sent)"},
    {"ingest", "insert_batch", K_UINT, "200", OFF(ingest_insert_batch), 1, 10000,
     .desc = "chunks written per INSERT while indexing"},

    {"dashboard", "metrics_interval", K_DURATION, "5s", OFF(dashboard_metrics_interval_ms), 100,
     DAY_MS, .desc = "how often /ws/dashboard and /ws/metrics get fresh figures"},
    {"dashboard", "queue_threshold", K_UINT, "100", OFF(dashboard_queue_threshold), 1, UINT32_MAX,
     .desc = "queued tasks over this raise a threshold_exceeded notification"},
    {"dashboard", "failure_threshold", K_UINT, "10", OFF(dashboard_failure_threshold), 1,
     UINT32_MAX, .desc = "failed tasks per minute over this raise threshold_exceeded"},

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

    {"webhook", "endpoints", K_WEBHOOKS, "", OFF(webhook_endpoints_raw),
     .desc = "comma list of \"URL event...\" (critical_objection task_completed task_failed, *)"},
    {"webhook", "secret_file", K_PATH, "", OFF(webhook_secret_file),
     .desc = "Standard Webhooks secret (whsec_<base64> or raw bytes); empty: unsigned"},
    {"webhook", "timeout", K_DURATION, "5s", OFF(webhook_timeout_ms), 100, 600000,
     .desc = "one delivery attempt, connect to answer"},
    {"webhook", "max_attempts", K_UINT, "8", OFF(webhook_max_attempts), 1, 100,
     .desc = "attempts before a delivery is dead"},
    {"webhook", "backoff_base", K_DURATION, "1s", OFF(webhook_backoff_base_ms), 1, DAY_MS,
     .desc = "delay after the first failed attempt; doubles each time, with jitter"},
    {"webhook", "backoff_max", K_DURATION, "5m", OFF(webhook_backoff_max_ms), 1, DAY_MS,
     .desc = "longest delay between two attempts"},
    {"webhook", "poll_interval", K_DURATION, "1s", OFF(webhook_poll_ms), 10, HOUR_MS,
     .desc = "how often each worker looks for due deliveries"},
    {"webhook", "max_inflight", K_UINT, "16", OFF(webhook_max_inflight), 1, 1024,
     .desc = "deliveries one worker sends at once"},
    {"webhook", "max_event_bytes", K_SIZE, "64KiB", OFF(webhook_max_event_bytes), KiB, 16 * MiB,
     .desc = "largest event body; a larger event is refused"},

    {"ui", "enabled", K_ENUM, "yes", OFF(ui_enabled), .names = NO_YES,
     .desc = "yes: GET / serves the browser UI; no: GET / and /ui/* answer 404"},

    {"cors", "allowed_origins", K_ORIGINS, "*", OFF(allowed_origins_raw),
     .desc = "* or comma separated origins, e.g. https://app.example.com"},

    {"shm", "ring_size", K_SIZE, "16MiB", OFF(ring_size), 64 * KiB, GiB,
     .desc = "shared broadcast ring, bytes"},

    {"log", "format", K_ENUM, "text", OFF(log_format), .names = LOG_FORMATS,
     .desc = "text or json"},
    {"log", "level", K_ENUM, "info", OFF(log_level), .names = LOG_LEVELS,
     .desc = "debug, info, warn or error"},
};

const size_t CONFIG_N_KEYS = sizeof CONFIG_KEYS / sizeof CONFIG_KEYS[0];

/* "16..64MiB", "at least 1", "more than 0" ... for error messages. */
static void range_text(const struct key_def *k, char *buf, size_t n)
{
    char lo[32], hi[32];
    config_format_number(k, k->min, lo, sizeof lo);
    if (isinf(k->max)) {
        snprintf(buf, n, "%s %s", k->open_min ? "more than" : "at least", lo);
        return;
    }
    config_format_number(k, k->max, hi, sizeof hi);
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
int config_parse_integer(const char *v, long long *out)
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
    int prc = isdigit((unsigned char)*port) ? config_parse_integer(port, &p) : -1;
    if (prc == -1) return fail(msg, len, "port \"%s\" is not a number (1..65535)", port);
    if (prc == -2 || p < 1 || p > 65535)
        return fail(msg, len, "port %s is out of range (1..65535)", port);
    memcpy(cfg->listen_host, host, hostlen + 1);
    cfg->listen_port = (uint16_t)p;
    return 0;
}

static int set_workers(const struct key_def *k, int *field, const char *v, char *msg, size_t len)
{
    char range[96];
    long long ll;
    if (strcasecmp(v, "auto") == 0) {
        *field = 0;
        return 0;
    }
    switch (config_parse_integer(v, &ll)) {
    case -1:
        range_text(k, range, sizeof range);
        return fail(msg, len, "\"%s\" is not a number (%s)", v, range);
    case -2: return out_of_range(k, v, msg, len);
    }
    if (!in_range(k, (double)ll)) return out_of_range(k, v, msg, len);
    *field = (int)ll;
    return 0;
}

static int set_duration(const struct key_def *k, uint32_t *field, const char *v, char *msg,
                        size_t len)
{
    double d;
    if (parse_duration(v, &d))
        return fail(msg, len, "\"%s\" is not a duration (e.g. 30, 0.25, 500ms, 30s, 2m, 1h)", v);
    if (d >= 1e15) /* also keeps the rounding cast below defined */
        return out_of_range(k, v, msg, len);
    d = (double)(uint64_t)(d + 0.5); /* whole milliseconds */
    if (!in_range(k, d)) return out_of_range(k, v, msg, len);
    *field = (uint32_t)d;
    return 0;
}

static int set_size(const struct key_def *k, size_t *field, const char *v, char *msg, size_t len)
{
    uint64_t u;
    switch (parse_size(v, &u)) {
    case -1: return fail(msg, len, "\"%s\" is not a size (e.g. 1048576, 64KiB, 1MiB)", v);
    case -2: return out_of_range(k, v, msg, len);
    }
    if (!in_range(k, (double)u)) return out_of_range(k, v, msg, len);
    *field = (size_t)u;
    return 0;
}

static int set_uint(const struct key_def *k, uint32_t *field, const char *v, char *msg, size_t len)
{
    char range[96];
    long long ll;
    switch (config_parse_integer(v, &ll)) {
    case -1:
        range_text(k, range, sizeof range);
        return fail(msg, len, "\"%s\" is not a whole number (%s)", v, range);
    case -2: return out_of_range(k, v, msg, len);
    }
    if (!in_range(k, (double)ll)) return out_of_range(k, v, msg, len);
    *field = (uint32_t)ll;
    return 0;
}

static int set_double(const struct key_def *k, double *field, const char *v, char *msg, size_t len)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !isfinite(d) || isspace((unsigned char)*v)) {
        char range[96];
        range_text(k, range, sizeof range);
        return fail(msg, len, "\"%s\" is not a number (%s)", v, range);
    }
    if (!in_range(k, d)) return out_of_range(k, v, msg, len);
    *field = d;
    return 0;
}

static int set_enum(const struct key_def *k, int *field, const char *v, char *msg, size_t len)
{
    char choices[128] = "";
    for (int i = 0; k->names[i]; i++) {
        if (strcasecmp(v, k->names[i]) == 0) {
            *field = i;
            return 0;
        }
        size_t used = strlen(choices);
        snprintf(choices + used, sizeof choices - used, "%s%s", i ? ", " : "", k->names[i]);
    }
    return fail(msg, len, "\"%s\" is not one of %s", v, choices);
}

/* Apply one value; on error msg says what is wrong, without a location. */
static int set_key(ragws_config_t *cfg, const struct key_def *k, const char *v, char *msg,
                   size_t len)
{
    void *field = (char *)cfg + k->off;
    switch (k->kind) {
    case K_LISTEN: return set_listen(cfg, v, msg, len);
    case K_WORKERS: return set_workers(k, field, v, msg, len);
    case K_DURATION: return set_duration(k, field, v, msg, len);
    case K_SIZE: return set_size(k, field, v, msg, len);
    case K_UINT: return set_uint(k, field, v, msg, len);
    case K_DOUBLE: return set_double(k, field, v, msg, len);
    case K_PATH:
    case K_STRING:
        if (strlen(v) >= PATH_MAX)
            return fail(msg, len, "path is too long (at most %d bytes)", PATH_MAX - 1);
        strcpy(field, v);
        return 0;
    case K_ORIGINS: return config_set_origins(cfg, v, msg, len);
    case K_CIDRS: return config_set_cidrs(cfg, v, msg, len);
    case K_ALGS: return config_set_algs(cfg, v, msg, len);
    case K_PATHS: return config_set_paths(field, v, msg, len);
    case K_WEBHOOKS: return config_set_webhooks(cfg, v, msg, len);
    case K_ENUM: return set_enum(k, field, v, msg, len);
    }
    return fail(msg, len, "internal error: key without a type");
}

void config_format_value(const ragws_config_t *cfg, const struct key_def *k, char *buf, size_t n)
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
    case K_DURATION: config_format_duration(*(const uint32_t *)field, buf, n); break;
    case K_SIZE: config_format_size((double)*(const size_t *)field, buf, n); break;
    case K_UINT: snprintf(buf, n, "%u", (unsigned)*(const uint32_t *)field); break;
    case K_DOUBLE: config_format_double(*(const double *)field, buf, n); break;
    case K_PATH:
    case K_STRING:
    case K_ORIGINS:
    case K_CIDRS:
    case K_ALGS:
    case K_PATHS:
    case K_WEBHOOKS: snprintf(buf, n, "%s", (const char *)field); break;
    case K_ENUM: snprintf(buf, n, "%s", k->names[*(const int *)field]); break;
    }
}

/* ---- lookup and public setters ---- */

bool config_known_section(const char *section)
{
    for (size_t i = 0; i < CONFIG_N_KEYS; i++)
        if (strcmp(CONFIG_KEYS[i].section, section) == 0) return true;
    return false;
}

/* Finds and applies section.key; *def is the key, or NULL if unknown. */
int config_set_by_name(ragws_config_t *cfg, const char *section, const char *key, const char *value,
                       const struct key_def **def, char *msg, size_t len)
{
    *def = NULL;
    for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
        if (strcmp(CONFIG_KEYS[i].section, section) == 0 && strcmp(CONFIG_KEYS[i].key, key) == 0) {
            *def = &CONFIG_KEYS[i];
            return set_key(cfg, &CONFIG_KEYS[i], value ? value : "", msg, len);
        }
    }
    if (!config_known_section(section)) return fail(msg, len, "unknown section [%s]", section);
    return fail(msg, len, "unknown key \"%s\" in section [%s]", key, section);
}

void config_defaults(ragws_config_t *cfg)
{
    char msg[256];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
        if (set_key(cfg, &CONFIG_KEYS[i], CONFIG_KEYS[i].def, msg, sizeof msg) != 0) {
            /* the table contradicts itself: a bug, not a user error */
            fprintf(stderr, "config: bad default for %s.%s: %s\n", CONFIG_KEYS[i].section,
                    CONFIG_KEYS[i].key, msg);
            abort();
        }
    }
}

int config_set(ragws_config_t *cfg, const char *section, const char *key, const char *value,
               char *err, size_t errlen)
{
    const struct key_def *k;
    char msg[512];
    if (config_set_by_name(cfg, section, key, value, &k, msg, sizeof msg) == 0) return 0;
    if (k) return fail(err, errlen, "%s.%s: %s", section, key, msg);
    return fail(err, errlen, "%s", msg);
}

/* ---- file loading ---- */
