-- Up Migration
-- A connection slot is taken in one round trip: the cap's slots are tried inside the database,
-- from `first` on and round again, and the one taken (a session advisory lock on (key, slot)) is
-- returned, or NULL when every slot is held. One query per slot cost a cap's worth of round trips
-- on a busy server.
CREATE FUNCTION try_connection_slot(lock_key integer, cap integer, first integer) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  FOR i IN 0 .. cap - 1 LOOP
    IF pg_try_advisory_lock(lock_key, (first + i) % cap) THEN
      RETURN (first + i) % cap;
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

-- Down Migration
DROP FUNCTION try_connection_slot(integer, integer, integer);
