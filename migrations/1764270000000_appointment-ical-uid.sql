-- Up Migration

-- The iCalUId of the Exchange event sync made of an appointment (Dynamics keeps the global object id
-- alike): when a mailbox is enabled again, or its links were lost, its events are found by it and
-- linked, not made a second time.
ALTER TABLE appointments ADD COLUMN ical_uid text;
CREATE INDEX appointments_ical_uid_idx ON appointments (ical_uid) WHERE ical_uid IS NOT NULL;

-- Down Migration
DROP INDEX appointments_ical_uid_idx;
ALTER TABLE appointments DROP COLUMN ical_uid;
