-- SQLite only (its search index is written in batches); PostgreSQL's trigram indexes are kept by PostgreSQL. Here so that both databases have the same migrations.
SELECT 1;
