-- Events written by `issue-tracker import-django` say so: `via` may be 'import'.
ALTER TABLE events DROP CONSTRAINT events_via_check;
ALTER TABLE events ADD CONSTRAINT events_via_check CHECK (via IN ('api', 'admin', 'cli', 'import'));
