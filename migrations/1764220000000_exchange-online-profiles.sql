-- Up Migration

-- An exchange_online profile reaches its mailboxes through Microsoft Graph with app-only tokens
-- from Entra ID. Hosts are settings because sovereign clouds (US Government, China) use other ones;
-- the service stores the public cloud's when none is given. The client secret, or the certificate
-- and its private key, live encrypted in credentials (JSON of the credential); what the views show
-- about them (kind, thumbprint, expiry) is kept beside it in the clear.
ALTER TABLE email_server_profiles
  ADD COLUMN graph_base_url text,
  ADD COLUMN authority_host text,
  ADD COLUMN credential_kind text CHECK (credential_kind IN ('secret', 'certificate')),
  ADD COLUMN certificate_thumbprint text,
  ADD COLUMN certificate_expires_at timestamptz,
  ADD CONSTRAINT email_server_profiles_certificate_facts
    CHECK (credential_kind IS DISTINCT FROM 'certificate' OR (certificate_thumbprint IS NOT NULL AND certificate_expires_at IS NOT NULL));

-- The tenant user a mailbox on an exchange_online profile is (its object id); null: its email address.
ALTER TABLE mailboxes ADD COLUMN graph_user text;

-- Down Migration
ALTER TABLE mailboxes DROP COLUMN graph_user;
ALTER TABLE email_server_profiles
  DROP CONSTRAINT email_server_profiles_certificate_facts,
  DROP COLUMN certificate_expires_at,
  DROP COLUMN certificate_thumbprint,
  DROP COLUMN credential_kind,
  DROP COLUMN authority_host,
  DROP COLUMN graph_base_url;
