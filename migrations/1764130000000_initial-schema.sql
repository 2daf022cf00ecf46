-- Up Migration

-- CRM side -----------------------------------------------------------------

CREATE TABLE crm_users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  full_name text NOT NULL,
  email text NOT NULL,
  -- Which incoming messages become email activities (see src/policy/tracking.ts).
  tracking_option text NOT NULL DEFAULT 'all'
    CHECK (tracking_option IN ('all', 'crm_records', 'replies_to_crm')),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX crm_users_email_key ON crm_users (lower(email));

CREATE TABLE accounts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  email text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_email_idx ON accounts (lower(email));

CREATE TABLE contacts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  full_name text NOT NULL,
  email text,
  account_id uuid REFERENCES accounts (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_email_idx ON contacts (lower(email));

CREATE TABLE leads (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  full_name text NOT NULL,
  email text,
  company text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leads_email_idx ON leads (lower(email));

-- One row per distinct message: the same message seen in several mailboxes is one activity.
CREATE TABLE email_activities (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  message_id text NOT NULL,
  direction text NOT NULL DEFAULT 'incoming' CHECK (direction IN ('incoming', 'outgoing')),
  subject text,
  body_text text,
  sent_at timestamptz,
  received_at timestamptz,
  in_reply_to text,
  "references" text[] NOT NULL DEFAULT '{}',
  size_bytes integer,
  attachments jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT email_activities_message_id_key UNIQUE (message_id)
);

CREATE TABLE email_parties (
  email_activity_id uuid NOT NULL REFERENCES email_activities (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('from', 'to', 'cc', 'bcc')),
  address text NOT NULL,
  display_name text,
  party_type text CHECK (party_type IN ('user', 'contact', 'account', 'lead')),
  party_id uuid,
  PRIMARY KEY (email_activity_id, role, address)
);
CREATE INDEX email_parties_party_idx ON email_parties (party_type, party_id);

-- Sync side ----------------------------------------------------------------

CREATE TABLE email_server_profiles (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  server_type text NOT NULL CHECK (server_type IN ('imap', 'pop3', 'exchange_online')),
  incoming_host text,
  incoming_port integer CHECK (incoming_port BETWEEN 1 AND 65535),
  incoming_security text NOT NULL DEFAULT 'tls' CHECK (incoming_security IN ('none', 'starttls', 'tls')),
  outgoing_host text,
  outgoing_port integer CHECK (outgoing_port BETWEEN 1 AND 65535),
  outgoing_security text NOT NULL DEFAULT 'starttls' CHECK (outgoing_security IN ('none', 'starttls', 'tls')),
  auth_type text NOT NULL DEFAULT 'password' CHECK (auth_type IN ('password', 'oauth_client_credentials')),
  -- Exchange Online app registration; the client secret lives encrypted in credentials.
  tenant_id text,
  client_id text,
  credentials text,
  max_concurrent_connections integer NOT NULL DEFAULT 10 CHECK (max_concurrent_connections BETWEEN 1 AND 65536),
  min_polling_interval_seconds integer NOT NULL DEFAULT 60 CHECK (min_polling_interval_seconds >= 1),
  process_email_from timestamptz,
  connection_timeout_seconds integer NOT NULL DEFAULT 30 CHECK (connection_timeout_seconds BETWEEN 1 AND 100),
  max_message_bytes integer NOT NULL DEFAULT 26214400 CHECK (max_message_bytes > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX email_server_profiles_name_key ON email_server_profiles (lower(name));

CREATE TABLE mailboxes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email_address text NOT NULL,
  profile_id uuid NOT NULL REFERENCES email_server_profiles (id) ON DELETE RESTRICT,
  -- A user holds at most one mailbox, a mailbox at most one user.
  owner_user_id uuid REFERENCES crm_users (id) ON DELETE SET NULL,
  username text,
  credentials text,
  folders text[] NOT NULL DEFAULT '{INBOX}',
  incoming_enabled boolean NOT NULL DEFAULT false,
  outgoing_enabled boolean NOT NULL DEFAULT false,
  items_enabled boolean NOT NULL DEFAULT false,
  incoming_status text NOT NULL DEFAULT 'not_run' CHECK (incoming_status IN ('not_run', 'success', 'failure')),
  outgoing_status text NOT NULL DEFAULT 'not_run' CHECK (outgoing_status IN ('not_run', 'success', 'failure')),
  items_status text NOT NULL DEFAULT 'not_run' CHECK (items_status IN ('not_run', 'success', 'failure')),
  last_error text,
  last_error_at timestamptz,
  consecutive_errors integer NOT NULL DEFAULT 0,
  last_sync_started_at timestamptz,
  last_sync_completed_at timestamptz,
  last_success_at timestamptz,
  next_sync_at timestamptz,
  items_processed_last_cycle integer NOT NULL DEFAULT 0,
  items_failed_last_cycle integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT mailboxes_owner_user_id_key UNIQUE (owner_user_id)
);
CREATE UNIQUE INDEX mailboxes_email_address_key ON mailboxes (lower(email_address));
CREATE INDEX mailboxes_profile_idx ON mailboxes (profile_id);

-- Where each folder's incoming sync stands; provider-specific (IMAP: UIDVALIDITY, last UID,
-- HIGHESTMODSEQ; Graph: delta link). Only moved in the transaction that stores what it covers.
CREATE TABLE folder_cursors (
  mailbox_id uuid NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  folder text NOT NULL,
  cursor jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (mailbox_id, folder)
);

-- Remote item <-> CRM record.
CREATE TABLE item_links (
  mailbox_id uuid NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  folder text NOT NULL,
  remote_id text NOT NULL,
  item_type text NOT NULL CHECK (item_type IN ('email', 'contact', 'appointment', 'task')),
  crm_record_id uuid NOT NULL,
  change_key text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (mailbox_id, folder, remote_id)
);
CREATE INDEX item_links_record_idx ON item_links (crm_record_id);

CREATE TABLE sync_errors (
  id bigserial PRIMARY KEY,
  mailbox_id uuid NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  scope text NOT NULL CHECK (scope IN ('item', 'mailbox')),
  error_class text NOT NULL CHECK (error_class IN ('item', 'transient', 'permanent')),
  folder text,
  remote_id text,
  message text NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT now()
);
-- An item that fails again on a resync is one error, not two.
CREATE UNIQUE INDEX sync_errors_item_key ON sync_errors (mailbox_id, folder, remote_id) WHERE scope = 'item';
CREATE INDEX sync_errors_mailbox_idx ON sync_errors (mailbox_id, occurred_at DESC);

-- Down Migration
DROP TABLE sync_errors, item_links, folder_cursors, mailboxes, email_server_profiles,
  email_parties, email_activities, leads, contacts, accounts, crm_users;
