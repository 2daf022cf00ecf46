-- Up Migration

-- Where a running sync stands ({folder, itemsDone, itemsTotal, startedAt, updatedAt}), moved with
-- each committed batch and cleared when the cycle ends: the API, dashboard and CLI show it.
ALTER TABLE mailboxes ADD COLUMN sync_progress jsonb;

-- Items synced per hour (dashboard).
CREATE INDEX item_links_created_idx ON item_links (created_at);

-- Down Migration
DROP INDEX item_links_created_idx;
ALTER TABLE mailboxes DROP COLUMN sync_progress;
