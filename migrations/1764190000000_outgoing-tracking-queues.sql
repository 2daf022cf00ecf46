-- Up Migration

-- Queues ---------------------------------------------------------------------------------------

-- A CRM queue (support@, sales@): one queue, one mailbox. Its incoming mail becomes queue items.
CREATE TABLE crm_queues (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  email text NOT NULL,
  -- Which incoming messages become email activities (src/policy/tracking.ts). A shared address
  -- wants everything, so queues start at 'all', as Dynamics' queues do.
  tracking_option text NOT NULL DEFAULT 'all',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX crm_queues_email_key ON crm_queues (lower(email));

CREATE TABLE queue_items (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  queue_id uuid NOT NULL REFERENCES crm_queues (id) ON DELETE CASCADE,
  email_activity_id uuid NOT NULL REFERENCES email_activities (id) ON DELETE CASCADE,
  -- The mailbox whose sync created it.
  mailbox_id uuid REFERENCES mailboxes (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT queue_items_email_key UNIQUE (queue_id, email_activity_id)
);

ALTER TABLE mailboxes
  ADD COLUMN owner_queue_id uuid REFERENCES crm_queues (id) ON DELETE SET NULL,
  ADD CONSTRAINT mailboxes_owner_queue_id_key UNIQUE (owner_queue_id),
  ADD CONSTRAINT mailboxes_one_owner CHECK (owner_user_id IS NULL OR owner_queue_id IS NULL);

-- Tracking options -----------------------------------------------------------------------------

-- The five of Dynamics' "Track" option (src/policy/tracking.ts).
ALTER TABLE crm_users DROP CONSTRAINT crm_users_tracking_option_check;
ALTER TABLE crm_users ADD CONSTRAINT crm_users_tracking_option_check
  CHECK (tracking_option IN ('all', 'replies_to_crm', 'crm_records', 'email_enabled_records', 'none'));
ALTER TABLE crm_queues ADD CONSTRAINT crm_queues_tracking_option_check
  CHECK (tracking_option IN ('all', 'replies_to_crm', 'crm_records', 'email_enabled_records', 'none'));

-- Tracking tokens number their owners: users and queues share one numbering, so a token names one.
CREATE SEQUENCE tracking_owner_number_seq;
ALTER TABLE crm_users
  -- Create a contact for a tracked message's sender who resolves to nothing (own domains excepted).
  ADD COLUMN create_contacts_for_unknown_senders boolean NOT NULL DEFAULT false,
  ADD COLUMN tracking_number integer NOT NULL DEFAULT nextval('tracking_owner_number_seq'),
  -- The token counter of this owner's last sent email; wraps at the counter digits.
  ADD COLUMN tracking_counter integer NOT NULL DEFAULT 0;
ALTER TABLE crm_queues
  ADD COLUMN tracking_number integer NOT NULL DEFAULT nextval('tracking_owner_number_seq'),
  ADD COLUMN tracking_counter integer NOT NULL DEFAULT 0;

ALTER TABLE organization_settings
  -- For new users; Dynamics' default is "email messages in response to CRM email".
  ADD COLUMN default_tracking_option text NOT NULL DEFAULT 'replies_to_crm'
    CHECK (default_tracking_option IN ('all', 'replies_to_crm', 'crm_records', 'email_enabled_records', 'none')),
  ADD COLUMN tracking_token_enabled boolean NOT NULL DEFAULT true,
  ADD COLUMN tracking_token_prefix text NOT NULL DEFAULT 'CRM'
    CHECK (length(tracking_token_prefix) BETWEEN 1 AND 20 AND tracking_token_prefix !~ '[[:space:]:]'),
  ADD COLUMN tracking_token_base_number bigint NOT NULL DEFAULT 0 CHECK (tracking_token_base_number BETWEEN 0 AND 2147483647),
  ADD COLUMN tracking_token_user_digits integer NOT NULL DEFAULT 3 CHECK (tracking_token_user_digits BETWEEN 1 AND 10),
  ADD COLUMN tracking_token_counter_digits integer NOT NULL DEFAULT 3 CHECK (tracking_token_counter_digits BETWEEN 1 AND 9),
  -- Correlation by normalised subject and shared participants; off by default, as in Dynamics.
  ADD COLUMN smart_matching boolean NOT NULL DEFAULT false,
  -- A forwarded message carries In-Reply-To, but it is a new conversation unless this is on.
  ADD COLUMN correlate_forwards boolean NOT NULL DEFAULT false,
  -- Senders in these domains are colleagues: no contact is created for them.
  ADD COLUMN own_domains text[] NOT NULL DEFAULT '{}',
  -- Attempts at an email the SMTP server answers with a 4xx before it is marked failed.
  ADD COLUMN max_send_attempts integer NOT NULL DEFAULT 10 CHECK (max_send_attempts BETWEEN 1 AND 100);

-- Per mailbox -----------------------------------------------------------------------------------

ALTER TABLE mailboxes
  -- The organisation's tracking token, this mailbox's own prefix, or none.
  ADD COLUMN tracking_token_mode text NOT NULL DEFAULT 'organization'
    CHECK (tracking_token_mode IN ('organization', 'custom', 'off')),
  ADD COLUMN tracking_token_prefix text
    CHECK (length(tracking_token_prefix) BETWEEN 1 AND 20 AND tracking_token_prefix !~ '[[:space:]:]'),
  ADD CONSTRAINT mailboxes_custom_token_prefix CHECK (tracking_token_mode <> 'custom' OR tracking_token_prefix IS NOT NULL),
  -- The folder sent mail is kept in (IMAP APPEND target, and tracked when track_sent_folder);
  -- NULL: the folder the server marks \Sent, else "Sent".
  ADD COLUMN sent_folder text,
  ADD COLUMN track_sent_folder boolean NOT NULL DEFAULT false,
  -- Queue and forward mailboxes: a message is deleted from the server once its commit is in.
  ADD COLUMN delete_after_processing boolean NOT NULL DEFAULT false;

-- A copy of each email sent from the CRM goes to the mailbox's Sent folder.
ALTER TABLE email_server_profiles ADD COLUMN save_sent_copy boolean NOT NULL DEFAULT true;

-- Outgoing email, conversations, correlation ----------------------------------------------------

ALTER TABLE email_activities
  -- received: tracked from a mailbox; the rest are an outgoing email's life:
  -- pending_send -> sending -> sent, or -> failed (send_error says why).
  ADD COLUMN status text NOT NULL DEFAULT 'received'
    CHECK (status IN ('received', 'draft', 'pending_send', 'sending', 'sent', 'failed')),
  -- Who sends it (outgoing): a user or a queue, through that owner's mailbox.
  ADD COLUMN owner_user_id uuid REFERENCES crm_users (id) ON DELETE SET NULL,
  ADD COLUMN owner_queue_id uuid REFERENCES crm_queues (id) ON DELETE SET NULL,
  ADD CONSTRAINT email_activities_one_owner CHECK (owner_user_id IS NULL OR owner_queue_id IS NULL),
  ADD COLUMN regarding_type text CHECK (regarding_type IN ('account', 'contact', 'lead')),
  ADD COLUMN regarding_id uuid,
  ADD CONSTRAINT email_activities_regarding CHECK ((regarding_type IS NULL) = (regarding_id IS NULL)),
  -- The first activity of the conversation (itself for a conversation's first email).
  ADD COLUMN conversation_id uuid,
  ADD COLUMN correlation_method text CHECK (correlation_method IN ('in_reply_to', 'tracking_token', 'smart_matching')),
  -- The earlier activity this one was correlated with.
  ADD COLUMN correlated_activity_id uuid REFERENCES email_activities (id) ON DELETE SET NULL,
  -- The token in its subject, as sent (outgoing) or found (incoming).
  ADD COLUMN tracking_token text,
  ADD COLUMN send_attempts integer NOT NULL DEFAULT 0 CHECK (send_attempts >= 0),
  ADD COLUMN next_attempt_at timestamptz,
  ADD COLUMN send_error text,
  -- The SMTP server accepted the message (250 after the final dot): it is never sent again.
  ADD COLUMN smtp_accepted_at timestamptz,
  ADD COLUMN sent_copy_saved_at timestamptz,
  ADD COLUMN queued_at timestamptz;
-- An email the CRM queues may come without a Message-ID: one is fixed before its first attempt.
ALTER TABLE email_activities ALTER COLUMN message_id DROP NOT NULL;
ALTER TABLE email_activities ADD CONSTRAINT email_activities_message_id_fixed
  CHECK (message_id IS NOT NULL OR (status IN ('draft', 'pending_send') AND send_attempts = 0));
UPDATE email_activities SET conversation_id = id;
CREATE INDEX email_activities_outbox_idx ON email_activities (owner_user_id, owner_queue_id, next_attempt_at)
  WHERE status IN ('pending_send', 'sending');
CREATE INDEX email_activities_tracking_token_idx ON email_activities (tracking_token) WHERE tracking_token IS NOT NULL;
CREATE INDEX email_activities_conversation_idx ON email_activities (conversation_id);

ALTER TABLE email_parties DROP CONSTRAINT email_parties_party_type_check;
ALTER TABLE email_parties ADD CONSTRAINT email_parties_party_type_check
  CHECK (party_type IN ('user', 'contact', 'account', 'lead', 'queue'));

-- A row that becomes pending_send wakes its mailbox's workflow at once (the worker listens).
CREATE FUNCTION notify_email_pending_send() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('email_pending_send', NEW.id::text);
  RETURN NULL;
END $$;
CREATE TRIGGER email_activities_pending_send
  AFTER INSERT OR UPDATE OF status ON email_activities
  FOR EACH ROW WHEN (NEW.status = 'pending_send') EXECUTE FUNCTION notify_email_pending_send();

-- Down Migration
DROP TRIGGER email_activities_pending_send ON email_activities;
DROP FUNCTION notify_email_pending_send();
ALTER TABLE email_parties DROP CONSTRAINT email_parties_party_type_check;
UPDATE email_parties SET party_type = NULL, party_id = NULL WHERE party_type = 'queue';
ALTER TABLE email_parties ADD CONSTRAINT email_parties_party_type_check CHECK (party_type IN ('user', 'contact', 'account', 'lead'));
-- Outgoing emails never sent had no place before: they are deleted.
DELETE FROM email_activities WHERE message_id IS NULL;
ALTER TABLE email_activities DROP CONSTRAINT email_activities_message_id_fixed;
ALTER TABLE email_activities ALTER COLUMN message_id SET NOT NULL;
ALTER TABLE email_activities
  DROP COLUMN status, DROP COLUMN owner_user_id, DROP COLUMN owner_queue_id, DROP COLUMN regarding_type,
  DROP COLUMN regarding_id, DROP COLUMN conversation_id, DROP COLUMN correlation_method,
  DROP COLUMN correlated_activity_id, DROP COLUMN tracking_token, DROP COLUMN send_attempts,
  DROP COLUMN next_attempt_at, DROP COLUMN send_error, DROP COLUMN smtp_accepted_at,
  DROP COLUMN sent_copy_saved_at, DROP COLUMN queued_at;
ALTER TABLE email_server_profiles DROP COLUMN save_sent_copy;
ALTER TABLE mailboxes
  DROP COLUMN tracking_token_mode, DROP COLUMN tracking_token_prefix, DROP COLUMN sent_folder,
  DROP COLUMN track_sent_folder, DROP COLUMN delete_after_processing;
ALTER TABLE organization_settings
  DROP COLUMN default_tracking_option, DROP COLUMN tracking_token_enabled, DROP COLUMN tracking_token_prefix,
  DROP COLUMN tracking_token_base_number, DROP COLUMN tracking_token_user_digits, DROP COLUMN tracking_token_counter_digits,
  DROP COLUMN smart_matching, DROP COLUMN correlate_forwards, DROP COLUMN own_domains, DROP COLUMN max_send_attempts;
UPDATE crm_users SET tracking_option = 'all' WHERE tracking_option IN ('email_enabled_records', 'none');
ALTER TABLE crm_users DROP CONSTRAINT crm_users_tracking_option_check;
ALTER TABLE crm_users ADD CONSTRAINT crm_users_tracking_option_check CHECK (tracking_option IN ('all', 'crm_records', 'replies_to_crm'));
ALTER TABLE crm_users DROP COLUMN create_contacts_for_unknown_senders, DROP COLUMN tracking_number, DROP COLUMN tracking_counter;
-- Mailboxes of queues lose their owner.
ALTER TABLE mailboxes DROP CONSTRAINT mailboxes_one_owner, DROP COLUMN owner_queue_id;
DROP TABLE queue_items, crm_queues;
DROP SEQUENCE tracking_owner_number_seq;
