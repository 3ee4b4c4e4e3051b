-- Staff admin sessions. The cookie holds a random key; only its SHA-256 is stored, as for API
-- tokens, so a copy of the database opens no session.
CREATE TABLE admin_sessions (
    id BIGSERIAL PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX admin_sessions_user_idx ON admin_sessions (user_id);
