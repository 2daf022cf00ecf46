-- Up Migration
-- A connection slot is taken in one round trip: the slots are tried in the given order inside the
-- database, and the one taken (a session advisory lock on (key, slot)) is returned, or NULL when
-- every slot is held. One query per slot cost a full cap's worth of round trips on a busy server.
CREATE FUNCTION try_connection_slot(lock_key integer, slots integer[]) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  slot integer;
BEGIN
  FOREACH slot IN ARRAY slots LOOP
    IF pg_try_advisory_lock(lock_key, slot) THEN
      RETURN slot;
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

-- Down Migration
DROP FUNCTION try_connection_slot(integer, integer[]);
