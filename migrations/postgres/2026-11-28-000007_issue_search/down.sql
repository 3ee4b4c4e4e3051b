DROP INDEX IF EXISTS issues_title_trgm_idx;
DROP INDEX IF EXISTS issues_description_trgm_idx;
