DROP INDEX issues_created_at_id_idx;
DROP INDEX issues_updated_at_id_idx;
DROP INDEX issues_status_id_idx;
DROP INDEX issues_assigned_to_id_id_idx;
DROP INDEX issues_created_by_id_id_idx;
CREATE INDEX issues_created_by_id_idx ON issues (created_by_id);
CREATE INDEX issues_assigned_to_id_idx ON issues (assigned_to_id);
