-- A copy of each issue's label names (a JSON array; NULL for none), read with the issue in its
-- one statement. issue_labels stays the source (filters read it); the service rewrites the copy
-- in the same transaction as every change to an issue's labels or to a label's name.
ALTER TABLE issues ADD COLUMN label_names TEXT;
UPDATE issues SET label_names = (
    SELECT json_group_array(l.name) FROM issue_labels il JOIN labels l ON l.id = il.label_id
    WHERE il.issue_id = issues.id)
WHERE id IN (SELECT issue_id FROM issue_labels);
