-- Events written by `issue-tracker import-django` say so: `via` may be 'import'. SQLite cannot
-- change a CHECK constraint, so the table is rebuilt (AUTOINCREMENT's counter is kept).
CREATE TABLE events_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    actor_id BIGINT,
    actor_username TEXT,
    via TEXT NOT NULL CHECK (via IN ('api', 'admin', 'cli', 'import')),
    request_id TEXT,
    issue_id BIGINT,
    user_id BIGINT,
    username TEXT,
    -- A JSON array of {"field", "old", "new"}.
    changes TEXT NOT NULL
);
INSERT INTO events_new SELECT id, kind, created_at, actor_id, actor_username, via, request_id,
    issue_id, user_id, username, changes FROM events;
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'events')
    WHERE name = 'events_new';
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_issue_idx ON events (issue_id, id) WHERE issue_id IS NOT NULL;
