/* The comma-list values of the configuration: cors.allowed_origins,
 * server.trusted_proxies (addresses and CIDRs), auth.algorithms and
 * auth.endpoints, each parsed into scratch first so that a rejected value
 * leaves cfg untouched; and the queries on them. */
#include "base/config_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

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
int config_set_origins(ragws_config_t *cfg, const char *v, char *msg, size_t len)
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
    if (slash && (config_parse_integer(slash + 1, &bits) != 0 || bits < 0 || bits > (long long)max))
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

int config_set_cidrs(ragws_config_t *cfg, const char *v, char *msg, size_t len)
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

int config_set_algs(ragws_config_t *cfg, const char *v, char *msg, size_t len)
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

int config_set_paths(char *field, const char *v, char *msg, size_t len)
{
    char store[PATH_MAX];
    if (each_item(v, store, sizeof store, "path", check_path, NULL, msg, len) != 0) return -1;
    strcpy(field, v);
    return 0;
}

/* ---- queries ---- */

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
