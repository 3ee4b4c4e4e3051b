DROP INDEX inbox_email_idx;
ALTER TABLE inbox DROP COLUMN digest_id;
ALTER TABLE inbox DROP COLUMN comment_id;
ALTER TABLE inbox DROP COLUMN email_id;
DROP INDEX notifications_open_activity_idx;
DELETE FROM notifications WHERE kind IN ('activity', 'digest');
ALTER TABLE users DROP COLUMN activity_delivery;
ALTER TABLE users DROP COLUMN activity_muted;
ALTER TABLE users DROP COLUMN notify_activity;
