-- A token's scopes, names separated by spaces; empty for a full token (its user's rights).
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
