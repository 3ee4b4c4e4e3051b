DROP TABLE incoming_emails;
DELETE FROM events WHERE via = 'email';
ALTER TABLE events DROP CONSTRAINT events_via_check;
ALTER TABLE events ADD CONSTRAINT events_via_check CHECK (via IN ('api', 'admin', 'cli', 'import'));
