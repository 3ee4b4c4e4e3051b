-- Each user's notification inbox: one row per person told of a change (a comment, a status
-- change, a reassignment, a mention, a deletion), written in the change's own transaction.
-- The issue is not a foreign key: the entry that says an issue was deleted outlives it.
-- `done` entries are gone from the inbox but kept, so that `updated_at` still moves the
-- inbox's version (its ETag and Last-Modified).
CREATE TABLE inbox (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issue_id BIGINT NOT NULL,
    reason TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor_username TEXT,
    summary TEXT NOT NULL,
    unread BOOLEAN NOT NULL,
    done BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX inbox_user_idx ON inbox (user_id, done, id);
CREATE INDEX inbox_user_updated_idx ON inbox (user_id, updated_at);
