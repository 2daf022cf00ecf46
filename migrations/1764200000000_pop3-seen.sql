-- Up Migration

-- The remote ids a set-positioned source (POP3: UIDLs) has handed to the store, whether they became
-- CRM items or not (filtered out, failed): written in the transaction that commits them, so what is
-- seen is never ahead of or behind what is stored. Ids the server no longer lists are pruned.
CREATE TABLE seen_remote_ids (
  mailbox_id uuid NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  folder text NOT NULL,
  remote_id text NOT NULL,
  seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (mailbox_id, folder, remote_id)
);

-- Down Migration
DROP TABLE seen_remote_ids;
