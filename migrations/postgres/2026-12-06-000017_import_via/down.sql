ALTER TABLE events DROP CONSTRAINT events_via_check;
ALTER TABLE events ADD CONSTRAINT events_via_check CHECK (via IN ('api', 'admin', 'cli'));
