/* The webhook outbox's storage (sql/007_webhooks.sql): every SQL
 * statement of table webhook_deliveries the workers run, as typed calls
 * on io/pg.h with the rules of worker/svc/store.h (one statement per
 * call, the request or NULL when PostgreSQL is unavailable, strings
 * copied by db_exec, a NULL callback allowed).
 *
 * A send is identified by (row id, lease owner, attempts): a worker whose
 * lease lapsed (another worker claimed the row again) can no longer
 * change the row. */
#ifndef RAGWS_WORKER_SVC_STORE_WEBHOOK_H
#define RAGWS_WORKER_SVC_STORE_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "io/pg.h"
#include "protocol/webhook.h"

/* One row per URL, in one statement (all or none): event, the same body
 * for each. Rows: ids. */
db_req_t *store_webhook_insert(const char *event, const char *const *urls, size_t n_urls,
                               const char *body, db_result_cb cb, void *ud);

/* Claims up to limit pending rows that are due and not leased (or whose
 * lease lapsed) for lease_owner: attempts + 1, lease for lease_ms. A row
 * that already had max_attempts claims becomes dead instead. Rows: the
 * STORE_WH_CLAIM_* columns. */
enum {
    STORE_WH_CLAIM_ID,
    STORE_WH_CLAIM_STATUS, /* "pending" (send it) or "dead" */
    STORE_WH_CLAIM_ATTEMPTS,
    STORE_WH_CLAIM_URL,
    STORE_WH_CLAIM_BODY,
    STORE_WH_CLAIM_EVENT,
};
db_req_t *store_webhook_claim(const char *lease_owner, uint32_t lease_ms, uint32_t limit,
                              uint32_t max_attempts, db_result_cb cb, void *ud);

/* The end of one attempt: delivered, or failed (http_status 0 when there
 * was no answer; error text) and due again after delay_ms, or dead when
 * it was attempt max_attempts. Row: the new status; no row: the lease was
 * lost. */
db_req_t *store_webhook_finish(int64_t id, const char *lease_owner, uint32_t attempts,
                               int delivered, long http_status, const char *error,
                               uint64_t delay_ms, uint32_t max_attempts, db_result_cb cb, void *ud);

/* Rows, newest first, at most limit; status NULL for all. */
db_req_t *store_webhook_list(const char *status, uint32_t limit, db_result_cb cb, void *ud);
/* The view of a row of store_webhook_list (strings into res). */
void store_webhook_row(const PGresult *res, int row, webhook_delivery_view_t *v);

#endif
