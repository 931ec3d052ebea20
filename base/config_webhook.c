/* webhook.endpoints: a comma list of items "URL event event ...", each
 * URL (http:// or https://, no spaces) followed by the events it
 * receives, by name or * for all of them:
 *
 *   endpoints = https://crm.example/hook critical_objection, http://10.0.0.5/x task_failed
 *
 * Parsed into scratch first so a rejected value leaves cfg untouched. A
 * URL holding a comma cannot be listed (percent-encode it: %2C). */
#include "base/config_internal.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const char *const EVENT_NAMES[CONFIG_WH_N_EVENTS + 1] = {
    "critical_objection", "task_completed", "task_failed", NULL};

const char *config_webhook_event_name(int i)
{
    return i >= 0 && i < CONFIG_WH_N_EVENTS ? EVENT_NAMES[i] : NULL;
}

uint32_t config_webhook_event_bit(const char *name)
{
    for (int i = 0; i < CONFIG_WH_N_EVENTS; i++)
        if (strcmp(name, EVENT_NAMES[i]) == 0) return 1u << i;
    return 0;
}

static bool is_url(const char *s, size_t n)
{
    size_t scheme = strncasecmp(s, "http://", 7) == 0    ? 7
                    : strncasecmp(s, "https://", 8) == 0 ? 8
                                                         : 0;
    if (!scheme || n <= scheme || s[scheme] == '/') return false;
    for (size_t i = 0; i < n; i++)
        if (iscntrl((unsigned char)s[i]) || isspace((unsigned char)s[i])) return false;
    return true;
}

/* One item: the URL, then at least one event (or *). */
static int parse_item(char *item, config_webhook_t *w, char *msg, size_t len)
{
    char *save = NULL, *url = strtok_r(item, " \t", &save);
    if (!url || !is_url(url, strlen(url)))
        return fail(msg, len,
                    "\"%s\" does not start with an http:// or https:// URL (expected \"URL "
                    "event...\")",
                    url ? url : "");
    if (strlen(url) >= sizeof w->url)
        return fail(msg, len, "URL is too long (at most %zu bytes)", sizeof w->url - 1);
    strcpy(w->url, url);
    w->events = 0;
    for (char *ev; (ev = strtok_r(NULL, " \t", &save));) {
        uint32_t bit =
            strcmp(ev, "*") == 0 ? (1u << CONFIG_WH_N_EVENTS) - 1 : config_webhook_event_bit(ev);
        if (!bit)
            return fail(msg, len,
                        "unknown webhook event \"%s\" for %s (critical_objection, "
                        "task_completed, task_failed or *)",
                        ev, w->url);
        w->events |= bit;
    }
    if (!w->events)
        return fail(msg, len,
                    "%s lists no event (add critical_objection, task_completed, task_failed "
                    "or * after the URL)",
                    w->url);
    return 0;
}

int config_set_webhooks(ragws_config_t *cfg, const char *v, char *msg, size_t len)
{
    char store[sizeof cfg->webhook_endpoints_raw];
    config_webhook_t list[CONFIG_MAX_WEBHOOKS];
    size_t n = 0, vlen = strlen(v);
    if (vlen >= sizeof store)
        return fail(msg, len, "list is too long (at most %zu bytes)", sizeof store - 1);
    memcpy(store, v, vlen + 1);
    for (char *item = store; *store;) {
        char *comma = strchr(item, ',');
        if (comma) *comma = '\0';
        while (isspace((unsigned char)*item)) item++;
        if (!*item)
            return fail(msg, len,
                        "empty endpoint in \"%s\" (expected \"URL event..., URL "
                        "event...\")",
                        v);
        if (n == CONFIG_MAX_WEBHOOKS)
            return fail(msg, len, "too many endpoints (at most %d)", CONFIG_MAX_WEBHOOKS);
        if (parse_item(item, &list[n++], msg, len) != 0) return -1;
        if (!comma) break;
        item = comma + 1;
    }
    memcpy(cfg->webhook_endpoints_raw, v, vlen + 1);
    memcpy(cfg->webhooks, list, n * sizeof list[0]);
    cfg->n_webhooks = n;
    return 0;
}
