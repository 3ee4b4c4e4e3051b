ALTER TABLE events ALTER COLUMN id SET DEFAULT nextval('events_id_seq');
DROP FUNCTION next_event_id();
