-- Each user may turn the assignment email and the consolidated report off; a notification of a
-- kind its recipient turned off is recorded as `skipped`, never silently dropped. SQLite cannot
-- change a CHECK constraint: the outbox is rebuilt with the new one (same rows, ids, indexes).
ALTER TABLE users ADD COLUMN notify_assignment BOOLEAN NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN notify_report BOOLEAN NOT NULL DEFAULT 1;
CREATE TABLE notifications_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('assignment', 'report')),
    recipient_id BIGINT NOT NULL REFERENCES users (id),
    issue_id BIGINT,
    period BIGINT,
    dedupe_key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'dead', 'cancelled', 'skipped')),
    send_after TIMESTAMP NOT NULL,
    enqueued_at TIMESTAMP,
    lease_until TIMESTAMP,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    claim_token BIGINT
);
INSERT INTO notifications_rebuilt (id, kind, recipient_id, issue_id, period, dedupe_key, status,
    send_after, enqueued_at, lease_until, attempts, last_error, created_at, sent_at, claim_token)
SELECT id, kind, recipient_id, issue_id, period, dedupe_key, status, send_after, enqueued_at,
    lease_until, attempts, last_error, created_at, sent_at, claim_token FROM notifications;
-- Ids are Message-IDs: never hand one out again, even one whose row is gone.
CREATE TEMP TABLE notifications_sequence AS
    SELECT seq FROM sqlite_sequence WHERE name = 'notifications';
DROP TABLE notifications;
ALTER TABLE notifications_rebuilt RENAME TO notifications;
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM notifications_sequence))
    WHERE name = 'notifications';
DROP TABLE notifications_sequence;
CREATE INDEX notifications_pending_due_idx ON notifications (send_after) WHERE status = 'pending';
CREATE INDEX notifications_sending_idx ON notifications (lease_until) WHERE status = 'sending';
CREATE INDEX notifications_issue_pending_idx ON notifications (issue_id) WHERE status = 'pending';
CREATE INDEX notifications_status_idx ON notifications (status, id);
