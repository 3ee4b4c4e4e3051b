UPDATE notifications SET status = 'cancelled' WHERE status = 'skipped';
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'dead', 'cancelled'));
ALTER TABLE users DROP COLUMN notify_report;
ALTER TABLE users DROP COLUMN notify_assignment;
