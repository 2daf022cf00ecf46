-- Up Migration

-- The CRM side of the two-way sync of contacts, appointments and tasks (issue 12): the records with
-- Dynamics' fields, a change log every write lands in (with the origin of sync's own writes), per-user
-- sync filters, per-organisation field directions, and the organisation's item settings.

-- Contacts: Dynamics' contact fields (dynamics-sss.md §1.4). full_name and email stay as they were:
-- address resolution and the contact API read them.
ALTER TABLE contacts
  ADD COLUMN first_name text,
  ADD COLUMN middle_name text,
  ADD COLUMN last_name text,
  ADD COLUMN nickname text,
  ADD COLUMN yomi_first_name text,
  ADD COLUMN yomi_last_name text,
  ADD COLUMN email2 text,
  ADD COLUMN email3 text,
  ADD COLUMN business_phone text,
  ADD COLUMN business_phone2 text,
  ADD COLUMN home_phone text,
  ADD COLUMN home_phone2 text,
  ADD COLUMN mobile_phone text,
  ADD COLUMN other_phone text,
  ADD COLUMN company_phone text,
  ADD COLUMN callback_phone text,
  ADD COLUMN assistant_phone text,
  ADD COLUMN fax text,
  ADD COLUMN pager text,
  ADD COLUMN assistant_name text,
  ADD COLUMN manager_name text,
  ADD COLUMN spouse_name text,
  ADD COLUMN children_names text,
  ADD COLUMN address1_street text,
  ADD COLUMN address1_city text,
  ADD COLUMN address1_state text,
  ADD COLUMN address1_postal_code text,
  ADD COLUMN address1_country text,
  ADD COLUMN address2_street text,
  ADD COLUMN address2_city text,
  ADD COLUMN address2_state text,
  ADD COLUMN address2_postal_code text,
  ADD COLUMN address2_country text,
  ADD COLUMN address3_street text,
  ADD COLUMN address3_city text,
  ADD COLUMN address3_state text,
  ADD COLUMN address3_postal_code text,
  ADD COLUMN address3_country text,
  ADD COLUMN company_name text,
  ADD COLUMN job_title text,
  ADD COLUMN department text,
  ADD COLUMN birthday date,
  ADD COLUMN anniversary date,
  ADD COLUMN website text,
  ADD COLUMN ftp_site text,
  ADD COLUMN government_id text,
  ADD COLUMN description text,
  ADD COLUMN owner_user_id uuid REFERENCES crm_users (id) ON DELETE SET NULL,
  ADD COLUMN state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'inactive')),
  ADD COLUMN modified_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX contacts_owner_idx ON contacts (owner_user_id);

-- Appointments. A series is one row with its recurrence (Graph's patternedRecurrence, as JSON); an
-- occurrence moved or cancelled is an exception row: series_master_id, the original start, and either
-- its own values or cancelled.
CREATE TABLE appointments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  subject text,
  description text,
  location text,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  -- The IANA zone the times were given in (a series recurs in it; all-day dates are its midnights).
  time_zone text NOT NULL DEFAULT 'UTC',
  all_day boolean NOT NULL DEFAULT false,
  show_as text NOT NULL DEFAULT 'busy' CHECK (show_as IN ('free', 'tentative', 'busy', 'oof', 'workingElsewhere')),
  priority text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high')),
  -- Open, or closed (Dynamics ignores Exchange edits of a closed appointment).
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'canceled')),
  -- The organizer: an address, and the CRM record it resolved to.
  organizer_address text,
  organizer_name text,
  organizer_type text CHECK (organizer_type IN ('user', 'contact', 'lead', 'account', 'queue')),
  organizer_id uuid,
  regarding_type text CHECK (regarding_type IN ('account', 'contact', 'lead')),
  regarding_id uuid,
  recurrence jsonb,
  series_master_id uuid REFERENCES appointments (id) ON DELETE CASCADE,
  original_start timestamptz,
  cancelled boolean NOT NULL DEFAULT false,
  owner_user_id uuid REFERENCES crm_users (id) ON DELETE SET NULL,
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'inactive')),
  created_at timestamptz NOT NULL DEFAULT now(),
  modified_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT appointments_end_after_start CHECK (ends_at >= starts_at),
  CONSTRAINT appointments_regarding_pair CHECK ((regarding_type IS NULL) = (regarding_id IS NULL)),
  CONSTRAINT appointments_organizer_pair CHECK ((organizer_type IS NULL) = (organizer_id IS NULL)),
  CONSTRAINT appointments_exception_shape CHECK (
    (series_master_id IS NULL AND original_start IS NULL AND NOT cancelled)
    OR (series_master_id IS NOT NULL AND original_start IS NOT NULL AND recurrence IS NULL))
);
CREATE INDEX appointments_owner_idx ON appointments (owner_user_id);
CREATE INDEX appointments_organizer_idx ON appointments (organizer_id) WHERE organizer_id IS NOT NULL;
CREATE UNIQUE INDEX appointments_exception_key ON appointments (series_master_id, original_start) WHERE series_master_id IS NOT NULL;

CREATE TABLE appointment_attendees (
  id bigserial PRIMARY KEY,
  appointment_id uuid NOT NULL REFERENCES appointments (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('required', 'optional')),
  address text NOT NULL,
  display_name text,
  -- The CRM record the address resolved to, if any.
  party_type text CHECK (party_type IN ('user', 'contact', 'lead', 'account', 'queue')),
  party_id uuid,
  CONSTRAINT appointment_attendees_party_pair CHECK ((party_type IS NULL) = (party_id IS NULL))
);
CREATE UNIQUE INDEX appointment_attendees_key ON appointment_attendees (appointment_id, lower(address));
CREATE INDEX appointment_attendees_party_idx ON appointment_attendees (party_id) WHERE party_id IS NOT NULL;

CREATE TABLE crm_tasks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  subject text,
  description text,
  starts_at timestamptz,
  due_at timestamptz,
  completed_at timestamptz,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'canceled')),
  priority text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high')),
  percent_complete integer NOT NULL DEFAULT 0 CHECK (percent_complete BETWEEN 0 AND 100),
  regarding_type text CHECK (regarding_type IN ('account', 'contact', 'lead')),
  regarding_id uuid,
  owner_user_id uuid REFERENCES crm_users (id) ON DELETE SET NULL,
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'inactive')),
  created_at timestamptz NOT NULL DEFAULT now(),
  modified_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT crm_tasks_regarding_pair CHECK ((regarding_type IS NULL) = (regarding_id IS NULL))
);
CREATE INDEX crm_tasks_owner_idx ON crm_tasks (owner_user_id);

-- modified_at is the CRM's own clock of the last change (the conflict rule compares it).
CREATE FUNCTION crm_item_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.modified_at := now();
  RETURN NEW;
END $$;
CREATE TRIGGER contacts_touch BEFORE UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION crm_item_touch();
CREATE TRIGGER appointments_touch BEFORE UPDATE ON appointments FOR EACH ROW EXECUTE FUNCTION crm_item_touch();
CREATE TRIGGER crm_tasks_touch BEFORE UPDATE ON crm_tasks FOR EACH ROW EXECUTE FUNCTION crm_item_touch();

-- Change capture --------------------------------------------------------------------------------

-- Every insert, update and delete of contacts, appointments (attendees included) and tasks, in order.
-- Readers page by (transaction_id, position) below the oldest running transaction (see
-- src/crm/pgCrmItems.ts): a position is taken before its transaction commits, so positions alone can
-- commit out of order.
CREATE TABLE crm_change_log (
  position bigserial PRIMARY KEY,
  transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  entity text NOT NULL CHECK (entity IN ('contact', 'appointment', 'task')),
  record_id uuid NOT NULL,
  operation text NOT NULL CHECK (operation IN ('insert', 'update', 'delete')),
  -- Column names that changed (an insert: those given a value; attendees: 'attendees').
  changed_columns text[] NOT NULL DEFAULT '{}',
  owner_before uuid,
  owner_after uuid,
  -- The CRM users whose mailboxes the change may concern: owners before and after, organizer, attendees.
  user_ids uuid[] NOT NULL DEFAULT '{}',
  -- 'crm' for any write but sync's; sync sets 'mailbox:<id>' (crm_sync.origin) so it can skip its own echo.
  origin text NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crm_change_log_transaction_idx ON crm_change_log (transaction_id, position);
CREATE INDEX crm_change_log_record_idx ON crm_change_log (record_id, position);

CREATE FUNCTION crm_change_origin() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('crm_sync.origin', true), ''), 'crm')
$$;

-- The CRM users an appointment concerns besides its owner: its organizer and attendees who are users.
CREATE FUNCTION appointment_party_users(appointment uuid) RETURNS uuid[] LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(DISTINCT u), '{}') FROM (
    SELECT organizer_id AS u FROM appointments WHERE id = appointment AND organizer_type = 'user'
    UNION ALL SELECT party_id FROM appointment_attendees WHERE appointment_id = appointment AND party_type = 'user'
  ) p WHERE u IS NOT NULL
$$;

CREATE FUNCTION crm_item_logged() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  item_entity text := TG_ARGV[0];
  changed text[];
  users uuid[];
  rec_id uuid;
  before_owner uuid;
  after_owner uuid;
  pos bigint;
BEGIN
  IF TG_OP = 'INSERT' THEN
    rec_id := NEW.id;
    after_owner := NEW.owner_user_id;
    changed := ARRAY(SELECT key FROM jsonb_each(to_jsonb(NEW))
                      WHERE value <> 'null'::jsonb AND key NOT IN ('id', 'created_at', 'modified_at') ORDER BY key);
  ELSIF TG_OP = 'UPDATE' THEN
    rec_id := NEW.id;
    before_owner := OLD.owner_user_id;
    after_owner := NEW.owner_user_id;
    changed := ARRAY(SELECT n.key FROM jsonb_each(to_jsonb(NEW)) n JOIN jsonb_each(to_jsonb(OLD)) o USING (key)
                      WHERE n.value IS DISTINCT FROM o.value AND n.key <> 'modified_at' ORDER BY n.key);
    IF cardinality(changed) = 0 THEN
      RETURN NULL;
    END IF;
  ELSE
    rec_id := OLD.id;
    before_owner := OLD.owner_user_id;
    changed := '{}';
  END IF;
  users := ARRAY(SELECT DISTINCT u FROM unnest(ARRAY[before_owner, after_owner]) u WHERE u IS NOT NULL);
  IF item_entity = 'appointment' THEN
    users := ARRAY(SELECT DISTINCT u FROM unnest(users || appointment_party_users(rec_id)) u);
    IF TG_OP = 'UPDATE' AND OLD.organizer_type = 'user' AND OLD.organizer_id IS NOT NULL THEN
      users := ARRAY(SELECT DISTINCT u FROM unnest(users || OLD.organizer_id) u);
    END IF;
  END IF;
  INSERT INTO crm_change_log (entity, record_id, operation, changed_columns, owner_before, owner_after, user_ids, origin)
  VALUES (item_entity, rec_id, lower(TG_OP), changed, before_owner, after_owner, users, crm_change_origin())
  RETURNING position INTO pos;
  PERFORM pg_notify('crm_item_changes', pos || ':' || item_entity || ':' || rec_id);
  -- A delete is logged by a BEFORE trigger, which must return the row for the delete to go on.
  RETURN OLD;
END $$;

-- Deletes are logged before the row goes, so an appointment's attendees still say whose mailboxes it was in.
CREATE TRIGGER contacts_logged AFTER INSERT OR UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION crm_item_logged('contact');
CREATE TRIGGER contacts_logged_delete BEFORE DELETE ON contacts FOR EACH ROW EXECUTE FUNCTION crm_item_logged('contact');
CREATE TRIGGER appointments_logged AFTER INSERT OR UPDATE ON appointments FOR EACH ROW EXECUTE FUNCTION crm_item_logged('appointment');
CREATE TRIGGER appointments_logged_delete BEFORE DELETE ON appointments FOR EACH ROW EXECUTE FUNCTION crm_item_logged('appointment');
CREATE TRIGGER crm_tasks_logged AFTER INSERT OR UPDATE ON crm_tasks FOR EACH ROW EXECUTE FUNCTION crm_item_logged('task');
CREATE TRIGGER crm_tasks_logged_delete BEFORE DELETE ON crm_tasks FOR EACH ROW EXECUTE FUNCTION crm_item_logged('task');

-- Attendee changes are changes of their appointment: one entry per appointment and statement, folded
-- into the appointment's own entry when this transaction wrote one already (an appointment created or
-- edited with its attendees is one change). Users who left the attendees are kept: their copy must go.
CREATE FUNCTION log_attendee_change(appointment uuid, left_users uuid[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  pos bigint;
BEGIN
  -- The appointment itself is being deleted (a cascade): its own entry says so.
  IF NOT EXISTS (SELECT 1 FROM appointments WHERE id = appointment) THEN
    RETURN;
  END IF;
  SELECT position INTO pos FROM crm_change_log
   WHERE record_id = appointment AND transaction_id = pg_current_xact_id() AND operation <> 'delete'
   ORDER BY position DESC LIMIT 1;
  IF pos IS NOT NULL THEN
    UPDATE crm_change_log
       SET changed_columns = CASE WHEN 'attendees' = ANY(changed_columns) THEN changed_columns ELSE changed_columns || 'attendees'::text END,
           user_ids = ARRAY(SELECT DISTINCT u FROM unnest(user_ids || appointment_party_users(appointment) || left_users) u
                             WHERE u IS NOT NULL)
     WHERE position = pos;
  ELSE
    INSERT INTO crm_change_log (entity, record_id, operation, changed_columns, owner_before, owner_after, user_ids, origin)
    SELECT 'appointment', ap.id, 'update', '{attendees}', ap.owner_user_id, ap.owner_user_id,
           ARRAY(SELECT DISTINCT u FROM unnest(ARRAY[ap.owner_user_id] || appointment_party_users(ap.id) || left_users) u
                  WHERE u IS NOT NULL),
           crm_change_origin()
      FROM appointments ap WHERE ap.id = appointment
    RETURNING position INTO pos;
    PERFORM pg_notify('crm_item_changes', pos || ':appointment:' || appointment);
  END IF;
END $$;

CREATE FUNCTION appointment_attendees_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM log_attendee_change(appointment_id, '{}') FROM (SELECT DISTINCT appointment_id FROM new_rows) a;
  RETURN NULL;
END $$;

CREATE FUNCTION appointment_attendees_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM log_attendee_change(t.appointment_id, coalesce(array_agg(t.party_id) FILTER (WHERE t.party_type = 'user'), '{}'))
     FROM (SELECT appointment_id, party_type, party_id FROM old_rows
           UNION ALL SELECT appointment_id, NULL, NULL FROM new_rows) t
    GROUP BY t.appointment_id;
  RETURN NULL;
END $$;

CREATE FUNCTION appointment_attendees_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM log_attendee_change(appointment_id, coalesce(array_agg(party_id) FILTER (WHERE party_type = 'user'), '{}'))
     FROM old_rows GROUP BY appointment_id;
  RETURN NULL;
END $$;

CREATE TRIGGER appointment_attendees_inserted AFTER INSERT ON appointment_attendees
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION appointment_attendees_inserted();
CREATE TRIGGER appointment_attendees_updated AFTER UPDATE ON appointment_attendees
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION appointment_attendees_updated();
CREATE TRIGGER appointment_attendees_deleted AFTER DELETE ON appointment_attendees
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION appointment_attendees_deleted();

-- The mailboxes a change may concern: those of the users it names (owners before and after,
-- organizer, attendees). The listener wakes them; the engine decides what each must do.
CREATE FUNCTION crm_change_mailboxes(positions bigint[]) RETURNS TABLE (mailbox_id uuid) LANGUAGE sql STABLE AS $$
  SELECT DISTINCT m.id FROM crm_change_log c JOIN mailboxes m ON m.owner_user_id = ANY(c.user_ids)
   WHERE c.position = ANY(positions)
$$;

-- Sync filters -----------------------------------------------------------------------------------

-- Which records of an entity go to a user's mailbox: structured rules (src/policy/syncFilters.ts),
-- compiled to SQL. Several enabled filters of one entity are a union; none: the entity does not sync.
CREATE TABLE sync_filters (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES crm_users (id) ON DELETE CASCADE,
  entity text NOT NULL CHECK (entity IN ('contact', 'appointment', 'task')),
  name text NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  rules jsonb NOT NULL,
  -- One of Dynamics' defaults, created with the user.
  is_default boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  modified_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_filters_user_idx ON sync_filters (user_id, entity);

-- Dynamics' defaults: my active contacts; appointments I organise or attend; my open tasks.
CREATE FUNCTION create_default_sync_filters(for_user uuid) RETURNS void LANGUAGE sql AS $$
  INSERT INTO sync_filters (user_id, entity, name, rules, is_default) VALUES
    (for_user, 'contact', 'My active contacts',
     '{"match": "all", "conditions": [{"field": "ownerUserId", "op": "eq", "value": {"currentUser": true}}, {"field": "state", "op": "eq", "value": "active"}]}', true),
    (for_user, 'appointment', 'Appointments I organise or attend',
     '{"match": "any", "conditions": [{"field": "organizer", "op": "eq", "value": {"currentUser": true}}, {"field": "attendee", "op": "eq", "value": {"currentUser": true}}]}', true),
    (for_user, 'task', 'My open tasks',
     '{"match": "all", "conditions": [{"field": "ownerUserId", "op": "eq", "value": {"currentUser": true}}, {"field": "status", "op": "eq", "value": "open"}]}', true)
$$;

CREATE FUNCTION crm_users_default_sync_filters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM create_default_sync_filters(NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER crm_users_default_sync_filters AFTER INSERT ON crm_users FOR EACH ROW EXECUTE FUNCTION crm_users_default_sync_filters();
SELECT create_default_sync_filters(id) FROM crm_users;

-- Field directions and organisation settings -------------------------------------------------------

-- The organisation's changes to Dynamics' default directions (src/policy/fieldDirections.ts); a field
-- without a row has its default.
CREATE TABLE item_field_directions (
  entity text NOT NULL CHECK (entity IN ('contact', 'appointment', 'recurringAppointment', 'task')),
  field text NOT NULL,
  direction text NOT NULL CHECK (direction IN ('two_way', 'crm_to_exchange', 'exchange_to_crm', 'none')),
  modified_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (entity, field)
);

ALTER TABLE organization_settings
  -- Dynamics' DistinctPhysicalAndLogicalDeletesForExchangeSync: a record that stops matching only unlinks.
  ADD COLUMN items_unlink_only boolean NOT NULL DEFAULT false,
  ADD COLUMN items_tracking_category text NOT NULL DEFAULT 'Tracked to CRM'
    CHECK (length(items_tracking_category) BETWEEN 1 AND 255),
  ADD COLUMN items_conflict_rule text NOT NULL DEFAULT 'later_wins' CHECK (items_conflict_rule IN ('later_wins', 'crm_wins'));

-- Down Migration
ALTER TABLE organization_settings DROP COLUMN items_conflict_rule, DROP COLUMN items_tracking_category, DROP COLUMN items_unlink_only;
DROP TABLE item_field_directions;
DROP TRIGGER crm_users_default_sync_filters ON crm_users;
DROP FUNCTION crm_users_default_sync_filters();
DROP FUNCTION create_default_sync_filters(uuid);
DROP TABLE sync_filters;
DROP FUNCTION crm_change_mailboxes(bigint[]);
DROP TABLE appointment_attendees;
DROP FUNCTION appointment_attendees_inserted(), appointment_attendees_updated(), appointment_attendees_deleted(),
  log_attendee_change(uuid, uuid[]);
DROP TABLE crm_tasks, appointments;
DROP TRIGGER contacts_logged ON contacts;
DROP TRIGGER contacts_logged_delete ON contacts;
DROP TRIGGER contacts_touch ON contacts;
DROP FUNCTION crm_item_logged(), appointment_party_users(uuid), crm_change_origin(), crm_item_touch();
DROP TABLE crm_change_log;
ALTER TABLE contacts
  DROP COLUMN first_name, DROP COLUMN middle_name, DROP COLUMN last_name, DROP COLUMN nickname, DROP COLUMN yomi_first_name,
  DROP COLUMN yomi_last_name, DROP COLUMN email2, DROP COLUMN email3, DROP COLUMN business_phone, DROP COLUMN business_phone2,
  DROP COLUMN home_phone, DROP COLUMN home_phone2, DROP COLUMN mobile_phone, DROP COLUMN other_phone, DROP COLUMN company_phone,
  DROP COLUMN callback_phone, DROP COLUMN assistant_phone, DROP COLUMN fax, DROP COLUMN pager, DROP COLUMN assistant_name,
  DROP COLUMN manager_name, DROP COLUMN spouse_name, DROP COLUMN children_names,
  DROP COLUMN address1_street, DROP COLUMN address1_city, DROP COLUMN address1_state, DROP COLUMN address1_postal_code, DROP COLUMN address1_country,
  DROP COLUMN address2_street, DROP COLUMN address2_city, DROP COLUMN address2_state, DROP COLUMN address2_postal_code, DROP COLUMN address2_country,
  DROP COLUMN address3_street, DROP COLUMN address3_city, DROP COLUMN address3_state, DROP COLUMN address3_postal_code, DROP COLUMN address3_country,
  DROP COLUMN company_name, DROP COLUMN job_title, DROP COLUMN department, DROP COLUMN birthday, DROP COLUMN anniversary,
  DROP COLUMN website, DROP COLUMN ftp_site, DROP COLUMN government_id, DROP COLUMN description, DROP COLUMN owner_user_id,
  DROP COLUMN state, DROP COLUMN modified_at;
