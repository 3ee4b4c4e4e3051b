-- What a user chose for an issue by hand: watch it (`subscribed`) or stop watching it (which
-- wins over every other reason until they watch it again). The other reasons (author, assignee,
-- commenter, mentioned) follow from the issue itself and are not stored.
CREATE TABLE issue_subscriptions (
    issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subscribed BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (issue_id, user_id)
);
CREATE INDEX issue_subscriptions_user_idx ON issue_subscriptions (user_id);
