DROP TABLE incoming_emails;
CREATE TABLE events_old (
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
    changes TEXT NOT NULL
);
INSERT INTO events_old SELECT * FROM events WHERE via <> 'email';
DROP TABLE events;
ALTER TABLE events_old RENAME TO events;
CREATE INDEX events_issue_idx ON events (issue_id, id) WHERE issue_id IS NOT NULL;
