/* Outbound webhooks (SPEC S4.5, seed 003 "Scénario 2"): events are
 * committed to the outbox table webhook_deliveries (one row per
 * configured URL that wants the event, worker/svc/store_webhook.h) before
 * anything is sent, then every worker's sender claims due rows (FOR
 * UPDATE SKIP LOCKED and a lease) and POSTs them through libcurl multi on
 * the loop (io/curl.h): a 2xx answer makes the row delivered; anything
 * else is retried after webhook.backoff_base doubled per attempt (with
 * jitter, at most webhook.backoff_max); after webhook.max_attempts the row
 * is dead. Rows are in PostgreSQL, so undelivered events survive a
 * restart, and a dead worker's rows are claimed again once their lease
 * (webhook.timeout + 10 s) lapsed: delivery is at least once.
 *
 * With webhook.secret_file, requests carry the Standard Webhooks headers
 * (webhook-id "msg_<row id>", the same on every attempt; webhook-timestamp;
 * webhook-signature, protocol/webhook.h).
 *
 * Everything runs on svc->loop; nothing blocks. The module owns its
 * transfers and strings; callers keep ownership of what they pass. */
#ifndef RAGWS_WORKER_SVC_WEBHOOK_H
#define RAGWS_WORKER_SVC_WEBHOOK_H

#include <stddef.h>

#include "base/config.h"

/* The checks of webhook_start that a config can fail (the secret file is
 * readable and holds a usable key), for `ragws check-config` too. 0, or
 * -1 with err. */
int webhook_check_config(const ragws_config_t *cfg, char *err, size_t errlen);

/* Loads the secret and, when webhook.endpoints lists any, starts this
 * worker's sender (after llm_init: io/curl is started here when the LLM
 * backend did not). 0, or -1 (logged). */
int webhook_start(void);
/* Stops claiming and drops the transfers in flight (their leases lapse
 * and another worker sends them). Before llm_shutdown. */
void webhook_stop(void);
/* Deliveries this worker is sending now (a drain waits for them). */
unsigned webhook_inflight(void);

/* Queues event (e.g. "critical_objection", "task_failed") durably for
 * every configured URL that wants it; data_json is a JSON object text
 * (encoded in protocol/), copied. Returns 0 (also when no URL wants it),
 * or -1 when storage is unavailable or the data is not a JSON object or
 * too large (webhook.max_event_bytes); logged. */
int webhook_emit(const char *event, const char *data_json);

/* The outbox rows, newest first, at most limit; status NULL for all, or
 * pending | delivered | dead. cb gets the JSON of GET
 * /api/webhooks/deliveries (protocol/webhook.h; the callee frees it), or
 * NULL and an error (storage, out of memory). Returns 0, or -1 when
 * storage is unavailable right now (cb never called). cb always runs
 * later, on the loop. */
int webhook_list(const char *status, size_t limit,
                 void (*cb)(void *ud, const char *json, const char *error), void *ud);

#endif
