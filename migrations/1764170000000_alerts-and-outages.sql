-- Up Migration

-- Alerts: one record per alert with all its audiences, deduplicated while its condition lasts
-- (condition_key + subject, unique among open alerts; a repeat bumps last_seen_at and occurrences)
-- and resolved, not deleted, when the condition clears.
ALTER TABLE alerts
  ADD COLUMN audiences text[],
  -- What the alert is about, for deduplication: mailbox_failure, server_unreachable, profile_failing,
  -- awaiting_approval. NULL for alerts that are never deduplicated (one per item error).
  ADD COLUMN condition_key text,
  ADD COLUMN last_seen_at timestamptz,
  ADD COLUMN occurrences integer NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
  ADD COLUMN resolved_at timestamptz;

-- The old rows came in pairs (owner + admins) and sometimes for a profile owner nobody was: merge
-- each group raised together into one row, and drop an owner audience that names no user.
WITH grouped AS (
  SELECT min(id) AS keep, array_agg(id) AS ids,
         array_remove(array_agg(DISTINCT CASE WHEN audience = 'admins' OR user_id IS NOT NULL THEN audience END), NULL) AS audiences,
         max(user_id::text)::uuid AS user_id
    FROM alerts
   GROUP BY level, scope, mailbox_id, profile_id, message, date_trunc('second', created_at)
)
UPDATE alerts a SET audiences = CASE WHEN cardinality(g.audiences) > 0 THEN g.audiences ELSE ARRAY['admins'] END,
                    user_id = g.user_id
  FROM grouped g WHERE a.id = g.keep;
DELETE FROM alerts WHERE audiences IS NULL;

UPDATE alerts SET last_seen_at = created_at;
UPDATE alerts a SET condition_key = 'mailbox_failure'
 WHERE scope = 'mailbox' AND message NOT LIKE '%is not approved';
UPDATE alerts SET condition_key = 'profile_failing' WHERE scope = 'server_profile';
UPDATE alerts SET condition_key = 'awaiting_approval' WHERE scope = 'mailbox' AND condition_key IS NULL;
-- Conditions that no longer hold are resolved; of those that do, the newest alert stays open.
UPDATE alerts a SET resolved_at = now()
  FROM mailboxes m
 WHERE a.mailbox_id = m.id AND a.condition_key = 'mailbox_failure' AND m.consecutive_errors = 0 AND m.incoming_status <> 'failure';
UPDATE alerts a SET resolved_at = now()
  FROM mailboxes m
 WHERE a.mailbox_id = m.id AND a.condition_key = 'awaiting_approval' AND m.email_approved;
UPDATE alerts SET resolved_at = now() WHERE condition_key = 'profile_failing';
UPDATE alerts a SET resolved_at = now()
 WHERE a.condition_key IS NOT NULL AND a.resolved_at IS NULL
   AND EXISTS (SELECT 1 FROM alerts b WHERE b.condition_key = a.condition_key AND b.resolved_at IS NULL
                  AND coalesce(b.mailbox_id, b.profile_id) = coalesce(a.mailbox_id, a.profile_id) AND b.id > a.id);

ALTER TABLE alerts
  DROP COLUMN audience,
  ALTER COLUMN audiences SET NOT NULL,
  ALTER COLUMN last_seen_at SET NOT NULL,
  ALTER COLUMN last_seen_at SET DEFAULT now(),
  ADD CONSTRAINT alerts_audiences_check
    CHECK (cardinality(audiences) > 0 AND audiences <@ ARRAY['mailbox_owner', 'profile_owner', 'admins']);
CREATE UNIQUE INDEX alerts_open_condition_key ON alerts (condition_key, (coalesce(mailbox_id, profile_id)))
  WHERE resolved_at IS NULL AND condition_key IS NOT NULL;
CREATE INDEX alerts_open_idx ON alerts (created_at DESC) WHERE resolved_at IS NULL;

-- The server could not be reached by most of its mailboxes since then (see src/policy/failurePolicy.ts);
-- NULL while it answers.
ALTER TABLE server_health ADD COLUMN unreachable_since timestamptz;

-- Transient failures in a row that were the mailbox's own (not its server's, not a lost worker):
-- only these count toward disabling it. consecutive_errors counts every failure in a row.
ALTER TABLE mailboxes ADD COLUMN own_errors_in_row integer NOT NULL DEFAULT 0;
UPDATE mailboxes SET own_errors_in_row = consecutive_errors;

-- A direction's time is when its status was last established, by a test or a sync.
UPDATE mailboxes SET incoming_tested_at = coalesce(last_success_at, last_sync_completed_at, updated_at)
 WHERE incoming_status = 'success' AND incoming_tested_at IS NULL;
UPDATE mailboxes SET incoming_tested_at = coalesce(last_error_at, last_sync_completed_at, updated_at)
 WHERE incoming_status = 'failure' AND incoming_tested_at IS NULL;
UPDATE mailboxes SET last_error_at = NULL WHERE last_error IS NULL;
UPDATE mailboxes SET next_sync_at = NULL WHERE NOT incoming_enabled;

-- Down Migration
ALTER TABLE mailboxes DROP COLUMN own_errors_in_row;
ALTER TABLE server_health DROP COLUMN unreachable_since;
DROP INDEX alerts_open_idx;
DROP INDEX alerts_open_condition_key;
ALTER TABLE alerts ADD COLUMN audience text;
UPDATE alerts SET audience = audiences[1];
ALTER TABLE alerts
  ALTER COLUMN audience SET NOT NULL,
  ADD CONSTRAINT alerts_audience_check CHECK (audience IN ('mailbox_owner', 'profile_owner', 'admins')),
  DROP COLUMN audiences, DROP COLUMN condition_key, DROP COLUMN last_seen_at, DROP COLUMN occurrences, DROP COLUMN resolved_at;
