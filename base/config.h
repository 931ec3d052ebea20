/* Configuration: ragws.conf (INI, parsed with libinih) plus -o overrides.
 *
 * Every key lives in one table in config_keys.c with its type, default and a one
 * line description; ragws.conf documents the same keys. Durations are
 * stored in milliseconds (written "30", "30s", "500ms", "2m"), sizes in
 * bytes (written "1048576", "64KiB", "1MiB", "1G"). */
#ifndef RAGWS_MASTER_CONFIG_H
#define RAGWS_MASTER_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 };
enum { AUTH_OFF = 0, AUTH_JWT = 1 };
enum { LLM_BUILTIN = 0, LLM_OPENAI = 1, LLM_OLLAMA = 2 };
enum { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO = 1, LOG_LEVEL_WARN = 2, LOG_LEVEL_ERROR = 3 };

#define CONFIG_MAX_ORIGINS 32
#define CONFIG_MAX_PROXIES 32
#define CONFIG_MAX_WEBHOOKS 8
#define CONFIG_WEBHOOK_URL_MAX 1024

/* Outbound webhook events (webhook.endpoints), one bit each; the names
 * are config_webhook_event_name(bit index). */
enum {
    CONFIG_WH_CRITICAL_OBJECTION = 1 << 0,
    CONFIG_WH_TASK_COMPLETED = 1 << 1,
    CONFIG_WH_TASK_FAILED = 1 << 2,
};
#define CONFIG_WH_N_EVENTS 3

/* One item of webhook.endpoints: a URL and the events it receives. */
typedef struct config_webhook {
    char url[CONFIG_WEBHOOK_URL_MAX];
    uint32_t events; /* CONFIG_WH_* bits */
} config_webhook_t;

/* JWT algorithms (auth.algorithms), one bit each. */
enum {
    CONFIG_ALG_HS256 = 1 << 0,
    CONFIG_ALG_HS384 = 1 << 1,
    CONFIG_ALG_HS512 = 1 << 2,
    CONFIG_ALG_RS256 = 1 << 3,
    CONFIG_ALG_RS384 = 1 << 4,
    CONFIG_ALG_RS512 = 1 << 5,
    CONFIG_ALG_ES256 = 1 << 6,
    CONFIG_ALG_ES384 = 1 << 7,
};
#define CONFIG_ALG_HS (CONFIG_ALG_HS256 | CONFIG_ALG_HS384 | CONFIG_ALG_HS512)
#define CONFIG_ALG_RS (CONFIG_ALG_RS256 | CONFIG_ALG_RS384 | CONFIG_ALG_RS512)

/* An address block of server.trusted_proxies: IPv4 is stored mapped into
 * IPv6 (::ffff:a.b.c.d) with 96 added to its prefix length. */
typedef struct config_cidr {
    unsigned char addr[16];
    unsigned bits; /* 0..128 */
} config_cidr_t;

typedef struct ragws_config {
    /* [server] */
    char listen_host[256]; /* "0.0.0.0", "127.0.0.1", "::" ... */
    uint16_t listen_port;  /* from listen = host:port */
    int workers;           /* 0 = auto (number of CPUs) */
    uint32_t drain_timeout_ms;
    char trusted_proxies_raw[1024]; /* comma separated addresses/CIDRs */
    config_cidr_t trusted_proxies[CONFIG_MAX_PROXIES];
    size_t n_trusted_proxies;

    /* [limits] */
    size_t max_message_bytes;
    uint32_t max_connections;        /* global, all workers together */
    uint32_t max_connections_per_ip; /* per worker and IP; 0 = no limit */
    size_t max_header_bytes;
    size_t max_body_bytes;   /* REST request bodies */
    size_t max_upload_bytes; /* one uploaded file (POST .../documents), streamed to disk */
    uint32_t handshake_timeout_ms;
    size_t send_buffer_limit;
    uint32_t keepalive_interval_ms;
    uint32_t keepalive_timeout_ms;
    double rate_limit;           /* messages per second per connection */
    uint32_t rate_burst;         /* bucket size */
    uint32_t rate_limit_strikes; /* RATE_LIMITED errors before close 1008 */

    uint32_t max_inflight_per_connection; /* concurrent queries on one socket */

    /* [socketio] */
    uint32_t sio_ping_interval_ms;
    uint32_t sio_ping_timeout_ms;
    uint32_t sio_max_payload; /* bytes, advertised to clients */

    /* [monitor] */
    uint32_t monitor_interval_ms;
    double cpu_alert_percent; /* error_alert when crossed */
    double memory_alert_percent;
    uint32_t error_alert_count; /* errors per interval */

    /* [auth] */
    char admin_token_file[PATH_MAX];    /* empty: admin calls from loopback only */
    char admin_token[512];              /* loaded from admin_token_file */
    int auth_mode;                      /* AUTH_OFF or AUTH_JWT */
    char jwt_secret_file[PATH_MAX];     /* HS256 secret */
    char jwt_public_key_file[PATH_MAX]; /* RS256/ES256 public key (PEM) */
    char auth_endpoints[PATH_MAX];      /* comma separated paths or prefix*; empty = default set */
    char auth_algorithms_raw[256];      /* comma separated names; empty = the key's default */
    uint32_t auth_alg_mask;             /* CONFIG_ALG_* bits; 0 = the key's default */
    uint32_t auth_leeway_ms;            /* clock skew tolerated on exp/nbf */

    /* [postgres] */
    char pg_conninfo[PATH_MAX]; /* "auto" = the private cluster under pg_auto_dir */
    char pg_auto_dir[PATH_MAX];
    uint32_t pg_connect_timeout_ms;
    uint32_t pg_reconnect_max_ms; /* backoff ceiling */
    uint32_t pg_query_timeout_ms;

    /* [rag] */
    char default_collection[PATH_MAX];
    uint32_t chunk_chars;
    uint32_t chunk_overlap;

    /* [conversation] */
    uint32_t conv_ping_interval_ms; /* server {"type":"ping"} on /ws/conversation */
    uint32_t conv_pong_timeout_ms;  /* no pong this long after a ping: closed */
    uint32_t conv_history_max;      /* inputs of a session the analysis reads */
    uint32_t conv_batch_max;        /* messages of one /api/analyze-batch */
    uint32_t conv_max_pending;      /* inputs waiting on one connection */
    char conv_default_session[PATH_MAX]; /* REST twins without ?session_id= */

    /* [ingest] */
    char upload_dir[PATH_MAX];    /* uploaded files, until their task ends */
    uint32_t ingest_max_parallel; /* tasks running at once on this node */
    uint32_t ingest_max_attempts; /* claims of one task before it fails */
    uint32_t ingest_lease_ms;     /* a claim lasts this long unless renewed */
    uint32_t ingest_poll_ms;      /* how often a worker looks for claimable tasks */
    uint32_t extract_timeout_ms;  /* one extractor child, start to exit */
    size_t extract_max_bytes;     /* text one extractor may write */
    char pdftotext_cmd[PATH_MAX];
    char pdftoppm_cmd[PATH_MAX];
    char tesseract_cmd[PATH_MAX];
    char ocr_language[PATH_MAX]; /* tesseract -l */
    uint32_t ocr_dpi;      /* pdftoppm -r for scanned pages */
    uint32_t ingest_progress_ms; /* least time between two progress events of one upload */
    uint32_t ingest_insert_batch; /* chunks per INSERT */

    /* [dashboard] */
    uint32_t dashboard_metrics_interval_ms;
    uint32_t dashboard_queue_threshold;  /* queue_length over this: threshold_exceeded */
    uint32_t dashboard_failure_threshold; /* failed tasks per minute over this: threshold_exceeded */

    /* [llm] */
    int llm_backend; /* LLM_BUILTIN, LLM_OPENAI, LLM_OLLAMA */
    char llm_url[PATH_MAX];
    char llm_model[PATH_MAX];
    char llm_api_key_file[PATH_MAX];
    uint32_t llm_connect_timeout_ms;
    uint32_t llm_idle_timeout_ms;
    uint32_t llm_max_tokens;
    double llm_temperature;
    uint32_t llm_retries;          /* attempts before the first token */
    uint32_t llm_builtin_token_ms; /* builtin backend: pause between tokens */
    int llm_analysis_backend;      /* 1: ask the backend for intent/entities */

    /* [webhook] */
    char webhook_endpoints_raw[PATH_MAX]; /* "URL event..., URL event..." */
    config_webhook_t webhooks[CONFIG_MAX_WEBHOOKS];
    size_t n_webhooks;
    char webhook_secret_file[PATH_MAX]; /* Standard Webhooks secret; empty: unsigned */
    uint32_t webhook_timeout_ms;        /* one delivery attempt, connect to answer */
    uint32_t webhook_max_attempts;      /* attempts before a delivery is dead */
    uint32_t webhook_backoff_base_ms;   /* delay after the first failure, doubling */
    uint32_t webhook_backoff_max_ms;    /* ceiling of that delay */
    uint32_t webhook_poll_ms;           /* how often a worker looks for due deliveries */
    uint32_t webhook_max_inflight;      /* deliveries sent at once by one worker */
    size_t webhook_max_event_bytes;     /* largest event body */

    /* [ui] */
    int ui_enabled; /* 1: GET / serves the browser UI (worker/api/rest_ui.h) */

    /* [cors] */
    char allowed_origins_raw[2048];            /* "*" or comma separated origins */
    char *allowed_origins[CONFIG_MAX_ORIGINS]; /* point into a private copy */
    char origins_store[2048];
    size_t n_allowed_origins;
    int allow_any_origin;

    /* [shm] */
    size_t ring_size;

    /* [log] */
    int log_format;
    int log_level;

    char path[PATH_MAX]; /* the file this came from */
} ragws_config_t;

/* Fill every field with its documented default. */
void config_defaults(ragws_config_t *cfg);

/* Defaults, then FILE (may be NULL: defaults only), then each override
 * "section.key=value" in order; then derived values (origin list, admin
 * token read from its file). On error returns -1 and writes
 * "file:line: message" (or "-o section.key: message") into err. */
int config_load(ragws_config_t *cfg, const char *path, char *const *overrides, int n_overrides,
                char *err, size_t errlen);

/* Set one key from its text value. Returns 0, or -1 with a message (no
 * location prefix) in err: unknown section/key or bad value. */
int config_set(ragws_config_t *cfg, const char *section, const char *key, const char *value,
               char *err, size_t errlen);

/* Number of workers to fork (resolves auto). */
int config_worker_count(const ragws_config_t *cfg);

/* The name of webhook event bit i ("critical_objection" ...), NULL past
 * the last; and the bit of a name (0 when unknown). */
const char *config_webhook_event_name(int i);
uint32_t config_webhook_event_bit(const char *name);

/* Is this Origin header value allowed by cors.allowed_origins? */
int config_origin_allowed(const ragws_config_t *cfg, const char *origin, size_t len);

/* Is it one of the origins listed by name ("*" matches nothing here)? */
int config_origin_listed(const ragws_config_t *cfg, const char *origin, size_t len);

/* Parse an IPv4 or IPv6 address of len bytes (no brackets, no port) into
 * the mapped 16-byte form. Returns 0, or -1 when it is not an address. */
int config_parse_ip(const char *s, size_t len, unsigned char out[16]);

/* Is this address (16-byte mapped form) in server.trusted_proxies? */
int config_proxy_trusted(const ragws_config_t *cfg, const unsigned char addr[16]);

/* Name of one CONFIG_ALG_* bit ("HS256" ...), NULL for another value. */
const char *config_alg_name(uint32_t bit);

/* The PostgreSQL conninfo to use: postgres.conninfo as is (with
 * connect_timeout from postgres.connect_timeout unless it names one), or
 * for "auto" the private cluster that scripts/pg-local.sh runs under
 * postgres.auto_dir ("host=<absolute auto_dir>/run port=5432 dbname=ragws
 * user=postgres connect_timeout=N"). Returns 0, or -1 when out does not
 * fit. */
int db_resolve_conninfo(const ragws_config_t *cfg, char *out, size_t len);

/* Write every key with its current value, INI style (ragws check-config -v). */
void config_dump(const ragws_config_t *cfg, FILE *out);

#endif
