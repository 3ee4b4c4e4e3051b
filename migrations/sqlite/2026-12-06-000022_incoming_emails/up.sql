-- Replies by email: the changes they make say so (`via` may be 'email'), and every message that
-- arrived at a reply address is kept with its outcome, once per message and reply address (the
-- unique key is what makes a message delivered twice count once). SQLite cannot change a CHECK
-- constraint, so the events table is rebuilt (AUTOINCREMENT's counter is kept).
CREATE TABLE events_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    actor_id BIGINT,
    actor_username TEXT,
    via TEXT NOT NULL CHECK (via IN ('api', 'admin', 'cli', 'import', 'email')),
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
CREATE TABLE incoming_emails (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_key TEXT NOT NULL,
    recipient TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    transport TEXT NOT NULL CHECK (transport IN ('pipe', 'lmtp')),
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id BIGINT,
    issue_id BIGINT,
    outcome TEXT NOT NULL CHECK (outcome IN ('comment', 'refused')),
    reason TEXT,
    detail TEXT,
    comment_id BIGINT,
    UNIQUE (message_key, recipient)
);
