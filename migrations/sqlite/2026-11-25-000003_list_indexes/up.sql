-- Filtered, paginated lists stay fast with millions of issues: each filter has an index that
-- also yields the default order (id).
DROP INDEX issues_created_by_id_idx;
DROP INDEX issues_assigned_to_id_idx;
CREATE INDEX issues_created_by_id_id_idx ON issues (created_by_id, id);
CREATE INDEX issues_assigned_to_id_id_idx ON issues (assigned_to_id, id);
CREATE INDEX issues_status_id_idx ON issues (status, id);
CREATE INDEX issues_updated_at_id_idx ON issues (updated_at, id);
CREATE INDEX issues_created_at_id_idx ON issues (created_at, id);
