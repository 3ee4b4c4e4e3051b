-- Webhook endpoints, and their deliveries: an outbox written in the same transaction as each
-- event (see events.rs), claimed by workers with a lease, retried on a schedule.
CREATE TABLE webhooks (
    id BIGSERIAL PRIMARY KEY,
    url TEXT NOT NULL,
    -- A JSON array of event types, or ["*"].
    events TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    secret TEXT NOT NULL,
    -- After a rotation, the old secret keeps signing alongside until previous_secret_until.
    previous_secret TEXT,
    previous_secret_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    -- The event delivered (its id is the webhook-id header); NULL for a ping.
    event_id BIGINT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'succeeded', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    -- When it is due: the next attempt, or, while sending, the end of the lease.
    next_attempt_at TIMESTAMP NOT NULL,
    claim_token BIGINT,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);
CREATE TABLE webhook_attempts (
    id BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    started_at TIMESTAMP NOT NULL,
    status_code INTEGER,
    duration_ms INTEGER NOT NULL,
    -- The first 4 KiB of the response body.
    response TEXT NOT NULL,
    error TEXT
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
