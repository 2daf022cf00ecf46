-- Up Migration

-- The iCalUId of the Exchange event sync made of an appointment (Dynamics keeps the global object id
-- alike): when a mailbox is enabled again, or its links were lost, its events are found by it and
-- linked, not made a second time.
ALTER TABLE appointments ADD COLUMN ical_uid text;
CREATE INDEX appointments_ical_uid_idx ON appointments (ical_uid) WHERE ical_uid IS NOT NULL;

-- An exception row deleted on its own (an occurrence put back into its series) is a change of its
-- series, logged for the series as attendee changes are: the row's own entry names no series, so
-- sync would not hear of it. A series deleted takes its exceptions along: its own entry says so.
CREATE FUNCTION appointment_exception_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  pos bigint;
BEGIN
  INSERT INTO crm_change_log (entity, record_id, operation, changed_columns, owner_before, owner_after, user_ids, origin)
  SELECT 'appointment', s.id, 'update', '{exceptions}', s.owner_user_id, s.owner_user_id,
         ARRAY(SELECT DISTINCT u FROM unnest(ARRAY[s.owner_user_id] || appointment_party_users(s.id)) u WHERE u IS NOT NULL),
         crm_change_origin()
    FROM appointments s WHERE s.id = OLD.series_master_id
  RETURNING position INTO pos;
  IF pos IS NOT NULL THEN
    PERFORM pg_notify('crm_item_changes', pos || ':appointment:' || OLD.series_master_id);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER appointments_exception_deleted AFTER DELETE ON appointments
  FOR EACH ROW WHEN (OLD.series_master_id IS NOT NULL) EXECUTE FUNCTION appointment_exception_deleted();

-- Down Migration
DROP TRIGGER appointments_exception_deleted ON appointments;
DROP FUNCTION appointment_exception_deleted();
DROP INDEX appointments_ical_uid_idx;
ALTER TABLE appointments DROP COLUMN ical_uid;
