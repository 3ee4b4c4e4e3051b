-- Substring search (`q` of the issue lists) through an FTS5 trigram index kept in step with
-- `issues` by triggers: a search of three characters or more answers from the index instead of
-- reading every issue (shorter ones still read them). Trigrams fold case, Unicode included.
CREATE VIRTUAL TABLE issues_search USING fts5(
    title, description, content = 'issues', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO issues_search (issues_search) VALUES ('rebuild');
CREATE TRIGGER issues_search_insert AFTER INSERT ON issues BEGIN
    INSERT INTO issues_search (rowid, title, description) VALUES (new.id, new.title, new.description);
END;
CREATE TRIGGER issues_search_delete AFTER DELETE ON issues BEGIN
    INSERT INTO issues_search (issues_search, rowid, title, description)
    VALUES ('delete', old.id, old.title, old.description);
END;
CREATE TRIGGER issues_search_update AFTER UPDATE OF title, description ON issues BEGIN
    INSERT INTO issues_search (issues_search, rowid, title, description)
    VALUES ('delete', old.id, old.title, old.description);
    INSERT INTO issues_search (rowid, title, description) VALUES (new.id, new.title, new.description);
END;
