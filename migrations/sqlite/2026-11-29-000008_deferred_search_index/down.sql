DROP TRIGGER issues_search_note_insert;
DROP TRIGGER issues_search_note_delete;
DROP TRIGGER issues_search_note_update;
DROP TABLE issues_search_pending;
DROP TABLE issues_search;
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
