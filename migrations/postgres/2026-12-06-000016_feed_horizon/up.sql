-- The history feed's horizon (see events.rs): every transaction that takes an event id has a
-- transaction id first, so that a reader holding a newer transaction id knows, once every older
-- transaction has ended, that each event id handed out before it is either visible or gone for
-- good. The sequence hands ids out one by one, in time order (no per-session cache).
CREATE FUNCTION next_event_id() RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_current_xact_id();
    RETURN nextval('events_id_seq');
END
$$;
ALTER SEQUENCE events_id_seq CACHE 1;
ALTER TABLE events ALTER COLUMN id SET DEFAULT next_event_id();
