/* Outbound webhooks: the outbox writer and this worker's sender (see
 * webhook.h). */
#include "worker/svc/webhook.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "io/curl.h"
#include "protocol/monitor.h"
#include "protocol/webhook.h"
#include "worker/svc/store_tasks.h"
#include "worker/svc/store_webhook.h"
#include "worker/svc/svc.h"

#define KEY_MAX     256
#define SECRET_MAX  1024
#define LEASE_SLACK 10000 /* ms a claim outlives the attempt's timeout */
#define ANSWER_KEEP 200   /* bytes of an error answer kept in last_error */

typedef struct delivery {
    curl_xfer_t xfer; /* first: done() finds the delivery from it */
    struct delivery *next;
    int64_t id;
    uint32_t attempts;
    char *body;
    struct curl_slist *headers;
    char answer[ANSWER_KEEP + 1];
    size_t answer_len;
    char curl_err[CURL_ERROR_SIZE];
} delivery_t;

static struct {
    int started, stopping;
    int own_curl; /* io/curl started here (the builtin LLM backend does not use it) */
    char owner[128];
    unsigned char key[KEY_MAX];
    size_t klen;
    loop_timer_t poll_timer, again_timer;
    db_req_t *claim_req;
    int claim_again; /* an event was stored while a claim was in flight */
    delivery_t *list;
    unsigned n;
} wh;

unsigned webhook_inflight(void) { return wh.n; }

/* ---- the secret ---- */

static int load_key(const ragws_config_t *cfg, unsigned char *key, size_t *klen, char *err,
                    size_t errlen)
{
    *klen = 0;
    if (!cfg->webhook_secret_file[0]) return 0;
    FILE *f = fopen(cfg->webhook_secret_file, "r");
    if (!f)
        return err_set(err, errlen, "webhook.secret_file %s: %s", cfg->webhook_secret_file,
                       strerror(errno));
    char text[SECRET_MAX + 1];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    if (n > SECRET_MAX)
        return err_set(err, errlen, "webhook.secret_file %s: larger than %d bytes",
                       cfg->webhook_secret_file, SECRET_MAX);
    if (webhook_secret_key(text, n, key, KEY_MAX, klen) != 0)
        return err_set(err, errlen,
                       "webhook.secret_file %s: expected whsec_<base64> or a key of 1..%d "
                       "bytes",
                       cfg->webhook_secret_file, KEY_MAX);
    return 0;
}

int webhook_check_config(const ragws_config_t *cfg, char *err, size_t errlen)
{
    unsigned char key[KEY_MAX];
    size_t klen;
    return load_key(cfg, key, &klen, err, errlen);
}

/* ---- the outbox writer ---- */

static void claim_soon(void);

static void inserted(void *ud, PGresult *res, const char *err)
{
    char *event = ud;
    if (!res)
        log_warn("webhook: event %s not stored: %s", event, err);
    else
        claim_soon(); /* send at once rather than at the next poll */
    free(event);
}

int webhook_emit(const char *event, const char *data_json)
{
    const ragws_config_t *cfg = svc->cfg;
    uint32_t bit = config_webhook_event_bit(event);
    const char *urls[CONFIG_MAX_WEBHOOKS];
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_webhooks; i++)
        if (cfg->webhooks[i].events & bit) urls[n++] = cfg->webhooks[i].url;
    if (!n) return 0;
    char ts[40];
    monitor_timestamp(ts, sizeof ts);
    char *body = webhook_body(event, ts, data_json, cfg->webhook_max_event_bytes);
    if (!body) {
        log_warn("webhook: event %s dropped: its data is not a JSON object or is larger than "
                 "webhook.max_event_bytes",
                 event);
        return -1;
    }
    char *ud = strdup(event);
    db_req_t *r = ud ? store_webhook_insert(event, urls, n, body, inserted, ud) : NULL;
    free(body);
    if (!r) {
        free(ud);
        log_warn("webhook: event %s not stored: PostgreSQL is unavailable", event);
        return -1;
    }
    return 0;
}

/* ---- one attempt ---- */

static uint64_t backoff_ms(uint32_t attempts)
{
    uint64_t d = svc->cfg->webhook_backoff_base_ms, max = svc->cfg->webhook_backoff_max_ms;
    for (uint32_t i = 1; i < attempts && d < max; i++) d *= 2;
    if (d > max) d = max;
    /* Jitter: between half and all of it, so receivers coming back are
     * not hit by every sender at the same moment. */
    return d / 2 + (uint64_t)random() % (d / 2 + 1);
}

static void finished(void *ud, PGresult *res, const char *err)
{
    int64_t id = (int64_t)(intptr_t)ud;
    if (!res)
        log_warn("webhook: delivery %lld: outcome not stored (%s); it is sent again", (long long)id,
                 err);
    else if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "dead") == 0)
        log_warn("webhook: delivery %lld is dead (webhook.max_attempts reached)", (long long)id);
}

static void delivery_free(delivery_t *d)
{
    for (delivery_t **pp = &wh.list; *pp; pp = &(*pp)->next) {
        if (*pp != d) continue;
        *pp = d->next;
        wh.n--;
        break;
    }
    curl_xfer_close(&d->xfer);
    curl_slist_free_all(d->headers);
    free(d->body);
    free(d);
}

/* Stores the attempt's outcome and frees d. */
static void attempt_over(delivery_t *d, int delivered, long status, const char *error)
{
    const ragws_config_t *cfg = svc->cfg;
    if (!store_webhook_finish(d->id, wh.owner, d->attempts, delivered, status, error,
                              backoff_ms(d->attempts), cfg->webhook_max_attempts, finished,
                              (void *)(intptr_t)d->id))
        log_warn("webhook: delivery %lld: outcome not stored (PostgreSQL unavailable); it is "
                 "sent again when its lease lapses",
                 (long long)d->id);
    if (!delivered)
        log_info("webhook: delivery %lld attempt %u failed: %s", (long long)d->id, d->attempts,
                 error);
    delivery_free(d);
    claim_soon();
}

static void attempt_done(curl_xfer_t *x, CURLcode rc)
{
    delivery_t *d = (delivery_t *)x;
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    char error[512];
    if (rc != CURLE_OK) {
        snprintf(error, sizeof error, "%s", d->curl_err[0] ? d->curl_err : curl_easy_strerror(rc));
    } else if (code < 200 || code >= 300) {
        d->answer[d->answer_len] = '\0';
        snprintf(error, sizeof error, "HTTP %ld%s%s", code, d->answer_len ? ": " : "", d->answer);
    } else {
        attempt_over(d, 1, code, NULL);
        return;
    }
    attempt_over(d, 0, code, error);
}

static size_t answer_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    delivery_t *d = ud;
    size_t n = size * nmemb, take = ANSWER_KEEP - d->answer_len;
    if (take > n) take = n;
    for (size_t i = 0; i < take; i++) /* one line in the table and the log */
        d->answer[d->answer_len++] = (ptr[i] == '\n' || ptr[i] == '\r') ? ' ' : ptr[i];
    return n;
}

static int add_header(delivery_t *d, const char *fmt, const char *a, const char *b)
{
    char line[256];
    snprintf(line, sizeof line, fmt, a, b);
    struct curl_slist *h = curl_slist_append(d->headers, line);
    if (!h) return -1;
    d->headers = h;
    return 0;
}

static int signed_headers(delivery_t *d)
{
    char id[32], ts[24], sig[WEBHOOK_SIG_MAX];
    snprintf(id, sizeof id, "msg_%lld", (long long)d->id);
    long long now = (long long)time(NULL);
    snprintf(ts, sizeof ts, "%lld", now);
    if (add_header(d, "webhook-id: %s%s", id, "") ||
        add_header(d, "webhook-timestamp: %s%s", ts, ""))
        return -1;
    if (!wh.klen) return 0;
    if (webhook_sign(wh.key, wh.klen, id, now, d->body, strlen(d->body), sig, sizeof sig) != 0)
        return -1;
    return add_header(d, "webhook-signature: %s%s", sig, "");
}

static int setup(delivery_t *d, const char *url)
{
    const ragws_config_t *cfg = svc->cfg;
    if (curl_xfer_open(&d->xfer, attempt_done) != 0) return -1;
    if (add_header(d, "%s%s", "Content-Type: application/json", "") ||
        add_header(d, "%s%s", "Expect:", "") || signed_headers(d))
        return -1;
    CURL *e = d->xfer.easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ragws-webhook");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(d->body));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->webhook_timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, answer_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, d->curl_err);
    return 0;
}

/* Row `row` of a claim: a delivery to send now. */
static void start_one(PGresult *res, int row)
{
    int64_t id = store_int(res, row, STORE_WH_CLAIM_ID);
    uint32_t attempts = (uint32_t)store_int(res, row, STORE_WH_CLAIM_ATTEMPTS);
    if (strcmp(PQgetvalue(res, row, STORE_WH_CLAIM_STATUS), "dead") == 0) {
        log_warn("webhook: delivery %lld is dead (its sender stopped on its last attempt)",
                 (long long)id);
        return;
    }
    delivery_t *d = calloc(1, sizeof *d);
    if (!d) return; /* its lease lapses; sent again later */
    d->id = id;
    d->attempts = attempts;
    d->body = strdup(PQgetvalue(res, row, STORE_WH_CLAIM_BODY));
    d->next = wh.list;
    wh.list = d;
    wh.n++;
    if (!d->body || setup(d, PQgetvalue(res, row, STORE_WH_CLAIM_URL)) != 0) {
        attempt_over(d, 0, 0, "out of memory setting up the request");
        return;
    }
    CURLMcode mc = curl_xfer_start(&d->xfer);
    if (mc != CURLM_OK) attempt_over(d, 0, 0, curl_multi_strerror(mc));
}

/* ---- the claim ---- */

static void claim_next(void);

static void claimed(void *ud, PGresult *res, const char *err)
{
    uint32_t asked = (uint32_t)(uintptr_t)ud;
    wh.claim_req = NULL;
    if (!res) {
        log_warn("webhook: claim failed: %s", err);
        return;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows && !wh.stopping; i++) start_one(res, i);
    /* A full batch may have left more due rows; an event stored meanwhile
     * is due too. */
    if ((uint32_t)rows == asked || wh.claim_again) claim_soon();
    wh.claim_again = 0;
}

static void claim_next(void)
{
    const ragws_config_t *cfg = svc->cfg;
    if (!wh.started || wh.stopping || (svc->draining && *svc->draining)) return;
    if (wh.claim_req) {
        wh.claim_again = 1;
        return;
    }
    if (wh.n >= cfg->webhook_max_inflight) return; /* an ending attempt claims again */
    uint32_t limit = cfg->webhook_max_inflight - wh.n;
    wh.claim_req =
        store_webhook_claim(wh.owner, cfg->webhook_timeout_ms + LEASE_SLACK, limit,
                            cfg->webhook_max_attempts, claimed, (void *)(uintptr_t)limit);
}

static void again_cb(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    (void)t;
    claim_next();
}

/* From the loop, never inside the callback that asked. */
static void claim_soon(void)
{
    if (wh.started && !wh.stopping && !loop_timer_armed(&wh.again_timer))
        loop_timer_start(svc->loop, &wh.again_timer, 0, again_cb, NULL);
}

static void poll_cb(loop_t *loop, loop_timer_t *t)
{
    if (wh.stopping) return;
    claim_next();
    loop_timer_start(loop, t, svc->cfg->webhook_poll_ms, poll_cb, NULL);
}

int webhook_start(void)
{
    char err[512];
    if (load_key(svc->cfg, wh.key, &wh.klen, err, sizeof err) != 0) {
        log_error("%s", err);
        return -1;
    }
    if (!svc->cfg->n_webhooks) return 0; /* nothing to send to */
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    snprintf(wh.owner, sizeof wh.owner, "%s:%d:%d", host, (int)getpid(), svc->slot_idx);
    if (!curl_io_active()) {
        if (curl_io_init(svc->loop, NULL) != 0) return -1;
        wh.own_curl = 1;
    }
    srandom((unsigned)getpid() ^ (unsigned)time(NULL));
    wh.started = 1;
    wh.stopping = 0;
    loop_timer_start(svc->loop, &wh.poll_timer, 0, poll_cb, NULL);
    return 0;
}

void webhook_stop(void)
{
    if (!wh.started || wh.stopping) return;
    wh.stopping = 1;
    loop_timer_stop(svc->loop, &wh.poll_timer);
    loop_timer_stop(svc->loop, &wh.again_timer);
    if (wh.claim_req) {
        db_detach(wh.claim_req); /* rows it claims lapse and are sent again */
        wh.claim_req = NULL;
    }
    if (wh.n) log_info("webhook: %u deliveries left to another worker (leases lapse)", wh.n);
    while (wh.list) delivery_free(wh.list);
    if (wh.own_curl) curl_io_shutdown();
    wh.own_curl = 0;
}

/* ---- listing ---- */

typedef struct list_req {
    void (*cb)(void *ud, const char *json, const char *error);
    void *ud;
} list_req_t;

static void listed(void *ud, PGresult *res, const char *err)
{
    list_req_t *l = ud;
    char *json = NULL;
    webhook_delivery_view_t *v = NULL;
    int n = res ? PQntuples(res) : 0;
    if (res && (v = calloc((size_t)n + 1, sizeof *v))) {
        for (int i = 0; i < n; i++) store_webhook_row(res, i, &v[i]);
        json = webhook_deliveries_encode(v, (size_t)n);
    }
    l->cb(l->ud, json, json ? NULL : res ? "the answer could not be encoded" : err);
    free(json);
    free(v);
    free(l);
}

int webhook_list(const char *status, size_t limit,
                 void (*cb)(void *ud, const char *json, const char *error), void *ud)
{
    list_req_t *l = malloc(sizeof *l);
    if (!l) return -1;
    *l = (list_req_t){cb, ud};
    if (store_webhook_list(status, (uint32_t)limit, listed, l)) return 0;
    free(l);
    return -1;
}
