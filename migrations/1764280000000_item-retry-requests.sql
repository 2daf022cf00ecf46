-- Up Migration
-- An administrator's or user's request to retry a failed item now (POST /mailboxes/:id/item-errors/retry,
-- `mailbox item-retry`). The item engine reads a mailbox's requests at the start of each entity's run,
-- tries those items again (a CRM-side item is pushed to the mail server although its record did not
-- change) and deletes the requests it took; the item's error row then says how the retry went (gone:
-- it synced; occurred_at after requested_at: it failed again, with the new reason).
CREATE TABLE item_retry_requests (
  mailbox_id uuid NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  entity text NOT NULL CHECK (entity IN ('contact', 'appointment', 'task')),
  side text NOT NULL CHECK (side IN ('crm', 'exchange')),
  item_key text NOT NULL,
  -- Renewed with every request: a run drops only the requests it read, never one made meanwhile.
  request_no bigserial NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (mailbox_id, entity, side, item_key)
);

-- Down Migration
DROP TABLE item_retry_requests;
