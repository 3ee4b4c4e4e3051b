-- Emails to watchers: one outbox row of kind `activity` per person and issue gathers the inbox
-- entries of a burst (`inbox.email_id`); while it is pending and untried, the partial unique index
-- lets no second one open, so a burst makes one email. `inbox.comment_id` names the comment an
-- entry is about (no foreign key: the email says when it was deleted since). Each user may turn
-- these emails off (`notify_activity`); they are then recorded as skipped. SQLite cannot change
-- a CHECK constraint: the outbox is rebuilt with the new one (same rows, ids, indexes).
ALTER TABLE users ADD COLUMN notify_activity BOOLEAN NOT NULL DEFAULT 1;
-- Which kinds of change email them: the ones turned off, comma-separated (a kind added later is
-- on); and whether bursts are emailed at once or gathered in a daily digest (kind `digest`, whose
-- entries are marked by `inbox.digest_id`).
ALTER TABLE users ADD COLUMN activity_muted TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN activity_delivery TEXT NOT NULL DEFAULT 'instant'
    CHECK (activity_delivery IN ('instant', 'daily'));
CREATE TABLE notifications_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('assignment', 'report', 'activity', 'digest')),
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
CREATE UNIQUE INDEX notifications_open_activity_idx ON notifications (recipient_id, issue_id)
    WHERE kind = 'activity' AND status = 'pending' AND attempts = 0;
ALTER TABLE inbox ADD COLUMN email_id BIGINT;
ALTER TABLE inbox ADD COLUMN comment_id BIGINT;
ALTER TABLE inbox ADD COLUMN digest_id BIGINT;
CREATE INDEX inbox_email_idx ON inbox (email_id) WHERE email_id IS NOT NULL;
