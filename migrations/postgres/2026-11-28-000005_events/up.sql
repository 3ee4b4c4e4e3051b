-- The history: one append-only row per change, written in the change's transaction. No foreign
-- keys: an issue's history outlives the issue.
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    actor_id BIGINT,
    actor_username TEXT,
    via TEXT NOT NULL CHECK (via IN ('api', 'admin', 'cli')),
    request_id TEXT,
    issue_id BIGINT,
    user_id BIGINT,
    username TEXT,
    -- A JSON array of {"field", "old", "new"}.
    changes TEXT NOT NULL
);
CREATE INDEX events_issue_idx ON events (issue_id, id) WHERE issue_id IS NOT NULL;
