-- Replies by email: the changes they make say so (`via` may be 'email'), and every message that
-- arrived at a reply address is kept with its outcome, once per message and reply address (the
-- unique key is what makes a message delivered twice count once).
ALTER TABLE events DROP CONSTRAINT events_via_check;
ALTER TABLE events ADD CONSTRAINT events_via_check
    CHECK (via IN ('api', 'admin', 'cli', 'import', 'email'));
CREATE TABLE incoming_emails (
    id BIGSERIAL PRIMARY KEY,
    -- `message-id:<Message-ID>`, or `sha256:<digest of the body>` without one.
    message_key TEXT NOT NULL,
    -- The reply address it was delivered to, lower-cased.
    recipient TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    transport TEXT NOT NULL CHECK (transport IN ('pipe', 'lmtp')),
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- The token's user and issue, when the token could be read (no foreign keys: the record
    -- outlives them).
    user_id BIGINT,
    issue_id BIGINT,
    outcome TEXT NOT NULL CHECK (outcome IN ('comment', 'refused')),
    -- Why it was refused: a word (`token_expired`, `automatic`...) and a sentence.
    reason TEXT,
    detail TEXT,
    comment_id BIGINT,
    UNIQUE (message_key, recipient)
);
