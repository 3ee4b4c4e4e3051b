-- Emails to watchers: one outbox row of kind `activity` per person and issue gathers the inbox
-- entries of a burst (`inbox.email_id`); while it is pending and untried, the partial unique index
-- lets no second one open, so a burst makes one email. `inbox.comment_id` names the comment an
-- entry is about (no foreign key: the email says when it was deleted since). Each user may turn
-- these emails off (`notify_activity`); they are then recorded as skipped.
ALTER TABLE users ADD COLUMN notify_activity BOOLEAN NOT NULL DEFAULT TRUE;
-- Which kinds of change email them: the ones turned off, comma-separated (a kind added later is
-- on); and whether bursts are emailed at once or gathered in a daily digest (kind `digest`, whose
-- entries are marked by `inbox.digest_id`).
ALTER TABLE users ADD COLUMN activity_muted TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN activity_delivery TEXT NOT NULL DEFAULT 'instant'
    CHECK (activity_delivery IN ('instant', 'daily'));
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('assignment', 'report', 'activity', 'digest'));
CREATE UNIQUE INDEX notifications_open_activity_idx ON notifications (recipient_id, issue_id)
    WHERE kind = 'activity' AND status = 'pending' AND attempts = 0;
ALTER TABLE inbox ADD COLUMN email_id BIGINT;
ALTER TABLE inbox ADD COLUMN comment_id BIGINT;
ALTER TABLE inbox ADD COLUMN digest_id BIGINT;
CREATE INDEX inbox_email_idx ON inbox (email_id) WHERE email_id IS NOT NULL;
