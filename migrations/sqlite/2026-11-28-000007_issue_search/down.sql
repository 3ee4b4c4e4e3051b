DROP TRIGGER issues_search_update;
DROP TRIGGER issues_search_delete;
DROP TRIGGER issues_search_insert;
DROP TABLE issues_search;
