/* The webhook outbox's statements (see store_webhook.h). */
#include "worker/svc/store_webhook.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/buf.h"
#include "worker/svc/store_tasks.h"

#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static const char SQL_INSERT[] = "INSERT INTO webhook_deliveries (event, url, body)"
                                 " SELECT $1, u, $3 FROM unnest($2::text[]) AS u RETURNING id";

/* FOR UPDATE SKIP LOCKED: two workers claiming at once take different
 * rows, never the same one. */
static const char SQL_CLAIM[] =
    "WITH c AS (SELECT id FROM webhook_deliveries WHERE status = 'pending'"
    "  AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())"
    "  ORDER BY next_attempt_at LIMIT $3::int FOR UPDATE SKIP LOCKED)"
    " UPDATE webhook_deliveries d SET"
    " attempts = d.attempts + CASE WHEN d.attempts < $4::int THEN 1 ELSE 0 END,"
    " status = CASE WHEN d.attempts < $4::int THEN 'pending' ELSE 'dead' END,"
    " last_error = CASE WHEN d.attempts < $4::int THEN d.last_error"
    "  ELSE coalesce(d.last_error, 'no answer before the lease lapsed') END,"
    " lease_owner = CASE WHEN d.attempts < $4::int THEN $1 END,"
    " lease_until = CASE WHEN d.attempts < $4::int"
    "  THEN now() + $2::int * interval '1 millisecond' END"
    " FROM c WHERE d.id = c.id"
    " RETURNING d.id, d.status, d.attempts, d.url, d.body, d.event";

static const char SQL_FINISH[] =
    "UPDATE webhook_deliveries SET"
    " status = CASE WHEN $4::int = 1 THEN 'delivered' WHEN attempts >= $8::int THEN 'dead'"
    "  ELSE 'pending' END,"
    " delivered_at = CASE WHEN $4::int = 1 THEN now() END,"
    " next_attempt_at = CASE WHEN $4::int = 1 THEN next_attempt_at"
    "  ELSE now() + $7::bigint * interval '1 millisecond' END,"
    " last_status = nullif($5::int, 0), last_error = $6, lease_owner = NULL, lease_until = NULL"
    " WHERE id = $1::bigint AND lease_owner = $2 AND attempts = $3::int RETURNING status";

static const char SQL_LIST[] =
    "SELECT id, event, url, status, attempts,"
    " CASE WHEN status = 'pending' THEN " ISO_UTC(
        "next_attempt_at") " END,"
                           " last_error, last_status, " ISO_UTC("created_at") ", " ISO_UTC(
                               "delivered_at") ", body"
                                               " FROM webhook_deliveries WHERE $1::text IS NULL OR "
                                               "status = $1"
                                               " ORDER BY id DESC LIMIT $2::int";

typedef char num_t[24];

static const char *u64(num_t out, uint64_t v)
{
    snprintf(out, sizeof(num_t), "%llu", (unsigned long long)v);
    return out;
}

/* A PostgreSQL array literal of texts: {"a","b"} with \ and " escaped. */
static int text_array(buf_t *b, const char *const *items, size_t n)
{
    int rc = buf_append_char(b, '{');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i) rc |= buf_append_char(b, ',');
        rc |= buf_append_char(b, '"');
        for (const char *p = items[i]; rc == 0 && *p; p++) {
            if (*p == '"' || *p == '\\') rc |= buf_append_char(b, '\\');
            rc |= buf_append_char(b, *p);
        }
        rc |= buf_append_char(b, '"');
    }
    return rc | buf_append_char(b, '}');
}

db_req_t *store_webhook_insert(const char *event, const char *const *urls, size_t n_urls,
                               const char *body, db_result_cb cb, void *ud)
{
    buf_t a = BUF_INIT(0);
    db_req_t *r = NULL;
    if (text_array(&a, urls, n_urls) == 0) {
        const char *v[3] = {event, a.data, body};
        r = db_exec(SQL_INSERT, 3, v, cb, ud);
    }
    buf_free(&a);
    return r;
}

db_req_t *store_webhook_claim(const char *lease_owner, uint32_t lease_ms, uint32_t limit,
                              uint32_t max_attempts, db_result_cb cb, void *ud)
{
    num_t l, n, m;
    const char *v[4] = {lease_owner, u64(l, lease_ms), u64(n, limit), u64(m, max_attempts)};
    return db_exec(SQL_CLAIM, 4, v, cb, ud);
}

db_req_t *store_webhook_finish(int64_t id, const char *lease_owner, uint32_t attempts,
                               int delivered, long http_status, const char *error,
                               uint64_t delay_ms, uint32_t max_attempts, db_result_cb cb, void *ud)
{
    num_t i, a, d, s, dl, m;
    snprintf(i, sizeof i, "%lld", (long long)id);
    snprintf(s, sizeof s, "%ld", http_status);
    const char *v[8] = {i, lease_owner, u64(a, attempts),  u64(d, delivered != 0),
                        s, error,       u64(dl, delay_ms), u64(m, max_attempts)};
    return db_exec(SQL_FINISH, 8, v, cb, ud);
}

db_req_t *store_webhook_list(const char *status, uint32_t limit, db_result_cb cb, void *ud)
{
    num_t l;
    const char *v[2] = {status, u64(l, limit)};
    return db_exec(SQL_LIST, 2, v, cb, ud);
}

void store_webhook_row(const PGresult *res, int row, webhook_delivery_view_t *v)
{
    *v = (webhook_delivery_view_t){.id = store_int(res, row, 0),
                                   .event = store_text(res, row, 1),
                                   .url = store_text(res, row, 2),
                                   .status = store_text(res, row, 3),
                                   .attempts = (uint32_t)store_int(res, row, 4),
                                   .next_attempt_at = store_text(res, row, 5),
                                   .last_error = store_text(res, row, 6),
                                   .last_status = (int)store_int(res, row, 7),
                                   .created_at = store_text(res, row, 8),
                                   .delivered_at = store_text(res, row, 9),
                                   .body = store_text(res, row, 10)};
}
