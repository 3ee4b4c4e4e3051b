-- Emails to watchers: one outbox row of kind `activity` per person and issue gathers the inbox
-- entries of a burst (`inbox.email_id`); while it is pending and untried, the partial unique index
-- lets no second one open, so a burst makes one email. `inbox.comment_id` names the comment an
-- entry is about (no foreign key: the email says when it was deleted since). Each user may turn
-- these emails off (`notify_activity`); they are then recorded as skipped.
ALTER TABLE users ADD COLUMN notify_activity BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('assignment', 'report', 'activity'));
CREATE UNIQUE INDEX notifications_open_activity_idx ON notifications (recipient_id, issue_id)
    WHERE kind = 'activity' AND status = 'pending' AND attempts = 0;
ALTER TABLE inbox ADD COLUMN email_id BIGINT;
ALTER TABLE inbox ADD COLUMN comment_id BIGINT;
CREATE INDEX inbox_email_idx ON inbox (email_id) WHERE email_id IS NOT NULL;
