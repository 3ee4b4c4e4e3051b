-- Labels, unique regardless of case (name_key is the name in lower case, computed by the service
-- so that both databases agree on what "the same name" is), and the labels each issue carries.
CREATE TABLE labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    color TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE issue_labels (
    issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    label_id BIGINT NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    PRIMARY KEY (issue_id, label_id)
);
-- The label filter: the issues of one label, in id order.
CREATE INDEX issue_labels_label_idx ON issue_labels (label_id, issue_id);
