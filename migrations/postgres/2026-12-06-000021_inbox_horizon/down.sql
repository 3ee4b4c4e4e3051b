ALTER TABLE inbox ALTER COLUMN id SET DEFAULT nextval('inbox_id_seq');
DROP FUNCTION next_inbox_id();
