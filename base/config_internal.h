/* Private to base/config*.c (other modules include base/config.h): the
 * key table's types and what its three files share.
 *
 *   config_keys.c   the key table (CONFIG_KEYS), scalar values (numbers,
 *                   durations, sizes, enums, listen), lookup and setters
 *   config_lists.c  comma-list values: origins, trusted proxies (CIDRs),
 *                   JWT algorithms, protected paths; and their queries
 *   config_webhook.c  webhook.endpoints: URLs and their events
 *   config_format.c   values formatted back as the file writes them
 *   config.c        loading a file and -o overrides, derived values, dump
 *
 * Every setter writes what is wrong into msg (no location prefix) and
 * returns -1, leaving cfg unchanged; the loader adds "file:line: " or
 * "-o section.key: ". */
#ifndef RAGWS_BASE_CONFIG_INTERNAL_H
#define RAGWS_BASE_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/config.h"
#include "base/err.h"

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
    K_WEBHOOKS, /* webhook.endpoints: "URL event..." items -> raw text and cfg->webhooks */
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

#define OFF(field) offsetof(ragws_config_t, field)

/* The keys, grouped by section in the order config_dump writes them. */
extern const struct key_def CONFIG_KEYS[];
extern const size_t CONFIG_N_KEYS;

/* Writes the message into err (when there is room) and returns -1: the
 * one error-text helper of base/err.h under the short name these files use. */
#define fail err_set

/* config_keys.c */
/* Whole-string integer; -1 if not a number, -2 if it does not fit. */
int config_parse_integer(const char *v, long long *out);
bool config_known_section(const char *section);
/* Finds and applies section.key; *def is the key, or NULL if unknown. */
int config_set_by_name(ragws_config_t *cfg, const char *section, const char *key, const char *value,
                       const struct key_def **def, char *msg, size_t len);
/* The value of k in cfg as config_dump writes it (it parses back the same). */
void config_format_value(const ragws_config_t *cfg, const struct key_def *k, char *buf, size_t n);

/* config_lists.c */
int config_set_origins(ragws_config_t *cfg, const char *v, char *msg, size_t len);
int config_set_cidrs(ragws_config_t *cfg, const char *v, char *msg, size_t len);
int config_set_algs(ragws_config_t *cfg, const char *v, char *msg, size_t len);
int config_set_paths(char *field, const char *v, char *msg, size_t len);

/* config_webhook.c */
int config_set_webhooks(ragws_config_t *cfg, const char *v, char *msg, size_t len);

/* config_format.c: "64MiB", "30s", "0.1", or the integer, per k->kind. */
void config_format_size(double bytes, char *buf, size_t n);
void config_format_duration(double ms, char *buf, size_t n);
void config_format_double(double d, char *buf, size_t n);
void config_format_number(const struct key_def *k, double v, char *buf, size_t n);

#endif
