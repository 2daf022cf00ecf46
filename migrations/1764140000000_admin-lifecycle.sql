-- Up Migration

ALTER TABLE email_server_profiles
  ADD COLUMN owner_user_id uuid REFERENCES crm_users (id) ON DELETE SET NULL;

ALTER TABLE mailboxes
  -- Bumped by every (re)mapping: a sync that started under an older mapping cannot commit.
  ADD COLUMN mapping_version integer NOT NULL DEFAULT 0,
  -- Dynamics' "email address approval": only approved mailboxes are processed while the
  -- organisation requires approval (it does by default).
  ADD COLUMN email_approved boolean NOT NULL DEFAULT false,
  ADD COLUMN min_polling_interval_seconds integer CHECK (min_polling_interval_seconds >= 1),
  ADD COLUMN incoming_tested_at timestamptz,
  ADD COLUMN incoming_test_message text,
  ADD COLUMN outgoing_tested_at timestamptz,
  ADD COLUMN outgoing_test_message text,
  ADD COLUMN items_tested_at timestamptz,
  ADD COLUMN items_test_message text;

-- Who the item was synced for: after a remap nothing new is attributed to the old owner.
ALTER TABLE item_links ADD COLUMN owner_user_id uuid REFERENCES crm_users (id) ON DELETE SET NULL;

CREATE TABLE organization_settings (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  require_email_approval boolean NOT NULL DEFAULT true
);
INSERT INTO organization_settings DEFAULT VALUES;

CREATE TABLE alerts (
  id bigserial PRIMARY KEY,
  level text NOT NULL CHECK (level IN ('error', 'warning', 'information')),
  scope text NOT NULL CHECK (scope IN ('email_item', 'mailbox', 'server_profile')),
  audience text NOT NULL CHECK (audience IN ('mailbox_owner', 'profile_owner', 'admins')),
  mailbox_id uuid REFERENCES mailboxes (id) ON DELETE CASCADE,
  profile_id uuid REFERENCES email_server_profiles (id) ON DELETE CASCADE,
  -- The user who should see it (the mailbox or profile owner at the time), if any.
  user_id uuid REFERENCES crm_users (id) ON DELETE SET NULL,
  message text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_mailbox_idx ON alerts (mailbox_id, created_at DESC);
CREATE INDEX alerts_profile_idx ON alerts (profile_id, created_at DESC);
CREATE INDEX alerts_user_idx ON alerts (user_id, created_at DESC);

CREATE TABLE api_tokens (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- SHA-256 of the token: the token itself is shown once and never stored.
  token_hash bytea NOT NULL UNIQUE,
  role text NOT NULL CHECK (role IN ('admin', 'user')),
  user_id uuid REFERENCES crm_users (id) ON DELETE CASCADE,
  label text,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  CHECK (role = 'admin' OR user_id IS NOT NULL)
);

-- Down Migration
DROP TABLE api_tokens, alerts, organization_settings;
ALTER TABLE item_links DROP COLUMN owner_user_id;
ALTER TABLE mailboxes DROP COLUMN mapping_version, DROP COLUMN email_approved, DROP COLUMN min_polling_interval_seconds,
  DROP COLUMN incoming_tested_at, DROP COLUMN incoming_test_message, DROP COLUMN outgoing_tested_at,
  DROP COLUMN outgoing_test_message, DROP COLUMN items_tested_at, DROP COLUMN items_test_message;
ALTER TABLE email_server_profiles DROP COLUMN owner_user_id;
