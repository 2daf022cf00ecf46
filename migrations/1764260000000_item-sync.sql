-- Up Migration
-- The two-way item engine's state (src/sync/items/): links between a mail-server item and a CRM
-- contact, appointment or task with what each side held at the last sync (the base of the
-- three-way merge), where each mailbox stands in the CRM change log and in each container's change
-- tracking, and the items that failed. Links live in item_links next to email's, so the dashboard
-- and mailbox figures count them alike; the columns below are the item engine's only.
ALTER TABLE item_links
  ADD COLUMN crm_snapshot jsonb,
  ADD COLUMN remote_snapshot jsonb,
  -- tracked: it entered the CRM by the tracking category; untracked: the category was removed, so
  -- neither side syncs it (the record stays, and the filters do not push it back) until it returns.
  ADD COLUMN link_state text NOT NULL DEFAULT 'synced' CHECK (link_state IN ('synced', 'tracked', 'untracked')),
  ADD COLUMN synced_at timestamptz NOT NULL DEFAULT now();
-- A CRM record is linked at most once per mailbox and kind: the guard against duplicates.
CREATE UNIQUE INDEX item_links_item_record_key ON item_links (mailbox_id, item_type, crm_record_id) WHERE item_type <> 'email';

-- Where a mailbox's item sync stands: 'crm:<entity>' (the CRM change-log cursor, a string) and
-- '<entity>:<container>' (the provider's cursor). Moved only in the transaction that stores what it covers.
CREATE TABLE item_cursors (
  mailbox_id uuid NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  scope text NOT NULL,
  cursor jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (mailbox_id, scope)
);

-- An item that could not be synced: which, why in words, and what retrying does. The next cycle
-- retries it; a success removes the row.
CREATE TABLE item_sync_errors (
  id bigserial PRIMARY KEY,
  mailbox_id uuid NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  entity text NOT NULL CHECK (entity IN ('contact', 'appointment', 'task')),
  side text NOT NULL CHECK (side IN ('crm', 'exchange')),
  -- The remote id (side exchange, with its container) or the CRM id (side crm).
  item_key text NOT NULL,
  container text,
  reason text NOT NULL,
  retry_action text NOT NULL,
  attempts integer NOT NULL DEFAULT 1,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT item_sync_errors_item_key UNIQUE (mailbox_id, entity, side, item_key)
);

-- The last item sync's failure, shown with the mailbox (items_status says whether it failed).
ALTER TABLE mailboxes ADD COLUMN items_last_error text;

-- Down Migration
ALTER TABLE mailboxes DROP COLUMN items_last_error;
DROP TABLE item_sync_errors, item_cursors;
DROP INDEX item_links_item_record_key;
ALTER TABLE item_links DROP COLUMN synced_at, DROP COLUMN link_state, DROP COLUMN remote_snapshot, DROP COLUMN crm_snapshot;
