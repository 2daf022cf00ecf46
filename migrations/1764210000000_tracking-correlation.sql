-- Up Migration

-- New users take the organisation's default tracking option when none is given, whoever inserts them.
CREATE FUNCTION organization_default_tracking_option() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT default_tracking_option FROM organization_settings), 'replies_to_crm')
$$;
ALTER TABLE crm_users ALTER COLUMN tracking_option SET DEFAULT organization_default_tracking_option();

-- Smart matching's subject key (src/policy/trackingToken.ts, normaliseSubject): without tracking
-- tokens and Re:/Fw:-style prefixes, lower case. Whoever stores an email fills it (NULL: an empty
-- subject, which matches nothing); found by subject, newest first, within its 90 days. Activities
-- stored before it have none: smart matching does not reach them.
ALTER TABLE email_activities ADD COLUMN normalised_subject text;
CREATE INDEX email_activities_normalised_subject_idx ON email_activities (normalised_subject, (coalesce(sent_at, created_at)))
  WHERE normalised_subject IS NOT NULL;

-- Down Migration
DROP INDEX email_activities_normalised_subject_idx;
ALTER TABLE email_activities DROP COLUMN normalised_subject;
ALTER TABLE crm_users ALTER COLUMN tracking_option SET DEFAULT 'all';
DROP FUNCTION organization_default_tracking_option();
