-- Each user may turn the assignment email and the consolidated report off; a notification of a
-- kind its recipient turned off is recorded as `skipped`, never silently dropped.
ALTER TABLE users ADD COLUMN notify_assignment BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE users ADD COLUMN notify_report BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'dead', 'cancelled', 'skipped'));
