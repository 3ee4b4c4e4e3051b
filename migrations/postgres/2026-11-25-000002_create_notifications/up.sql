-- The outbox: one row per email to send. Written in the same transaction as the change that
-- causes it; the database, not Redis, is the source of truth and holds the delay.
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('assignment', 'report')),
    recipient_id BIGINT NOT NULL REFERENCES users (id),
    -- No foreign key: the row outlives a deleted issue, as history.
    issue_id BIGINT,
    -- Report period number: floor(unix seconds / interval).
    period BIGINT,
    dedupe_key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'dead', 'cancelled')),
    send_after TIMESTAMP NOT NULL,
    enqueued_at TIMESTAMP,
    lease_until TIMESTAMP,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX notifications_pending_due_idx ON notifications (send_after) WHERE status = 'pending';
CREATE INDEX notifications_sending_idx ON notifications (lease_until) WHERE status = 'sending';
CREATE INDEX notifications_issue_pending_idx ON notifications (issue_id) WHERE status = 'pending';
CREATE INDEX notifications_status_idx ON notifications (status, id);
