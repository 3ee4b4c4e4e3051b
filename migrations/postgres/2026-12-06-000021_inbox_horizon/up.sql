-- The notification stream's horizon, as the history feed's (see events.rs, `settled_through`):
-- every transaction that takes an inbox id has a transaction id first, and the sequence hands ids
-- out one by one, in time order.
CREATE FUNCTION next_inbox_id() RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_current_xact_id();
    RETURN nextval('inbox_id_seq');
END
$$;
ALTER SEQUENCE inbox_id_seq CACHE 1;
ALTER TABLE inbox ALTER COLUMN id SET DEFAULT next_inbox_id();
