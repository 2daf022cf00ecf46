import type { Pool } from 'pg';
import { slotLockKey } from '../worker/connectionSlots';

/** What the monitoring dashboard shows, after Dynamics' server-side synchronization dashboard. */
export interface DashboardSummary {
  generatedAt: string;
  /**
   * Mailboxes per state: syncing, idle, failing (enabled, erroring), server_unreachable (enabled, waiting
   * for its unreachable server), error (disabled by an error), disabled, awaiting_approval.
   */
  mailboxesByState: Record<string, number>;
  failing: { id: string; emailAddress: string; state: string; lastError: string | null; lastErrorAt: string | null; consecutiveErrors: number }[];
  /** Every mailbox's state (as counted in mailboxesByState) with its owner's and profile's names, for the mailbox table. */
  mailboxes: { id: string; state: string; ownerName: string | null; profileName: string }[];
  /** Enabled mailboxes by minutes since their last successful sync. */
  syncLag: { bucket: string; mailboxes: number }[];
  /** Email items synced per hour, the last 24 hours, oldest first. */
  itemsPerHour: { hour: string; items: number }[];
  /** Each server's connections in use (held slots, across all workers) against its cap. */
  servers: { profileId: string; name: string; cap: number; inUse: number }[];
  /** Syncs under way with their progress. */
  inProgress: { id: string; emailAddress: string; folder: string; itemsDone: number; itemsTotal: number }[];
  /** Open alerts, newest first (at most 20), as GET /alerts lists them. */
  alerts: (Omit<AlertView, 'createdAt' | 'lastSeenAt' | 'resolvedAt'> & { createdAt: string; lastSeenAt: string; resolvedAt: string | null })[];
}

export interface AlertView {
  id: number;
  level: string;
  scope: string;
  /** Who it is for: mailbox_owner, profile_owner (both with userId), admins. Never empty. */
  audiences: string[];
  mailboxId: string | null;
  profileId: string | null;
  userId: string | null;
  message: string;
  createdAt: Date;
  /** The condition was last seen then; `occurrences` times in all while the alert was open. */
  lastSeenAt: Date;
  occurrences: number;
  /** When the condition cleared; null while the alert is open. */
  resolvedAt: Date | null;
}

/** The columns of an alert as the API shows it (AlertView), for every query that lists alerts. */
export const ALERT_COLUMNS = `id::int, level, scope, audiences, mailbox_id AS "mailboxId", profile_id AS "profileId", user_id AS "userId",
  message, created_at AS "createdAt", last_seen_at AS "lastSeenAt", occurrences, resolved_at AS "resolvedAt"`;

const LAG_BUCKETS: [string, number][] = [
  ['< 15 min', 15],
  ['15-60 min', 60],
  ['1-4 h', 240],
  ['4-24 h', 1440],
  ['> 24 h', Infinity],
];

const STATE_SQL = `CASE
  WHEN NOT m.incoming_enabled AND m.incoming_status = 'failure' THEN 'error'
  WHEN NOT m.incoming_enabled THEN 'disabled'
  WHEN NOT m.email_approved AND o.require_email_approval THEN 'awaiting_approval'
  WHEN m.consecutive_errors > 0 AND EXISTS (SELECT 1 FROM server_health h WHERE h.profile_id = m.profile_id AND h.unreachable_since IS NOT NULL)
    THEN 'server_unreachable'
  WHEN m.consecutive_errors > 0 THEN 'failing'
  WHEN m.sync_progress IS NOT NULL OR m.last_sync_started_at > coalesce(m.last_sync_completed_at, '-infinity') THEN 'syncing'
  ELSE 'idle' END`;

export async function dashboardSummary(pool: Pool): Promise<DashboardSummary> {
  const [states, failing, mailboxes, lags, hours, profiles, locks, progress, alerts] = await Promise.all([
    pool.query(`SELECT ${STATE_SQL} AS state, count(*)::int AS n FROM mailboxes m CROSS JOIN organization_settings o GROUP BY 1`),
    pool.query(
      `SELECT m.id, m.email_address, ${STATE_SQL} AS state, m.last_error, m.last_error_at, m.consecutive_errors
         FROM mailboxes m CROSS JOIN organization_settings o
        WHERE m.last_error IS NOT NULL AND (m.consecutive_errors > 0 OR m.incoming_status = 'failure')
        ORDER BY m.last_error_at DESC NULLS LAST LIMIT 50`,
    ),
    pool.query(
      `SELECT m.id, ${STATE_SQL} AS state, coalesce(u.full_name, q.name) AS owner_name, p.name AS profile_name
         FROM mailboxes m CROSS JOIN organization_settings o
         JOIN email_server_profiles p ON p.id = m.profile_id
         LEFT JOIN crm_users u ON u.id = m.owner_user_id
         LEFT JOIN crm_queues q ON q.id = m.owner_queue_id`,
    ),
    pool.query(
      `SELECT extract(epoch FROM now() - last_success_at) / 60 AS minutes FROM mailboxes WHERE incoming_enabled AND last_success_at IS NOT NULL`,
    ),
    pool.query(
      `SELECT to_char(h, 'YYYY-MM-DD"T"HH24:00') AS hour, count(l.created_at)::int AS items
         FROM generate_series(date_trunc('hour', now()) - interval '23 hours', date_trunc('hour', now()), interval '1 hour') h
         LEFT JOIN item_links l ON l.created_at >= h AND l.created_at < h + interval '1 hour'
        GROUP BY h ORDER BY h`,
    ),
    pool.query(`SELECT id, name, max_concurrent_connections FROM email_server_profiles ORDER BY name`),
    pool.query(`SELECT classid::int AS key, count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted GROUP BY 1`),
    pool.query(
      `SELECT id, email_address, sync_progress FROM mailboxes WHERE sync_progress IS NOT NULL ORDER BY (sync_progress->>'updatedAt') DESC LIMIT 20`,
    ),
    pool.query(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE resolved_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 20`),
  ]);
  const held = new Map<number, number>(locks.rows.map((r) => [r.key, r.n]));
  const lagMinutes: number[] = lags.rows.map((r) => Number(r.minutes));
  return {
    generatedAt: new Date().toISOString(),
    mailboxesByState: Object.fromEntries(states.rows.map((r) => [r.state, r.n])),
    failing: failing.rows.map((r) => ({
      id: r.id,
      emailAddress: r.email_address,
      state: r.state,
      lastError: r.last_error,
      lastErrorAt: r.last_error_at?.toISOString() ?? null,
      consecutiveErrors: r.consecutive_errors,
    })),
    mailboxes: mailboxes.rows.map((r) => ({ id: r.id, state: r.state, ownerName: r.owner_name, profileName: r.profile_name })),
    syncLag: LAG_BUCKETS.map(([bucket, upTo], i) => ({
      bucket,
      mailboxes: lagMinutes.filter((m) => m < upTo && (i === 0 || m >= LAG_BUCKETS[i - 1][1])).length,
    })),
    itemsPerHour: hours.rows,
    servers: profiles.rows.map((p) => ({ profileId: p.id, name: p.name, cap: p.max_concurrent_connections, inUse: held.get(slotLockKey(p.id)) ?? 0 })),
    inProgress: progress.rows.map((r) => ({ id: r.id, emailAddress: r.email_address, ...r.sync_progress })),
    alerts: alerts.rows.map((a) => ({
      ...a,
      createdAt: a.createdAt.toISOString(),
      lastSeenAt: a.lastSeenAt.toISOString(),
      resolvedAt: a.resolvedAt?.toISOString() ?? null,
    })),
  };
}
