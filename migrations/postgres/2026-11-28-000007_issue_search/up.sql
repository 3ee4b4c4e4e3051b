-- Substring search (`q` of the issue lists) through trigram indexes: `lower(x) LIKE '%text%'`
-- answers from the index instead of reading every issue. pg_trgm is a trusted extension
-- (PostgreSQL 13+): the database's owner may create it. Without it the search still works, by a
-- scan, and the migration says so.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file THEN
    RAISE NOTICE 'pg_trgm is not available (%): issue search will read every issue', SQLERRM;
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX issues_title_trgm_idx ON issues USING gin (lower(title) gin_trgm_ops);
        CREATE INDEX issues_description_trgm_idx ON issues USING gin (lower(description) gin_trgm_ops);
    END IF;
END $$;
