-- 007_webhooks: the outbox of outbound webhooks (SPEC S4.5, seed 003).
--
-- One row per event and endpoint URL, inserted before anything is sent,
-- so an event survives a crash or restart (delivered at least once). Any
-- worker claims due rows with SELECT ... FOR UPDATE SKIP LOCKED and a
-- lease (lease_owner "host:pid:slot", lease_until): two workers never send
-- one row at once, and a dead worker's rows are taken again when their
-- lease lapses. attempts counts the claims: after webhook.max_attempts
-- failed ones the row is 'dead' (kept; `ragws webhooks retry ID` makes it
-- pending again).
CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    event           text NOT NULL,
    url             text NOT NULL,
    body            text NOT NULL,              -- the exact bytes POSTed (and signed)
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner     text,
    lease_until     timestamptz,
    last_error      text,
    last_status     int,                        -- HTTP status of the last answer, if any
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);

-- The claim: pending rows, soonest due first.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
-- GET /api/webhooks/deliveries?status=S, newest first.
CREATE INDEX webhook_deliveries_status_idx ON webhook_deliveries (status, id);
