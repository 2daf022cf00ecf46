import type { Pool, PoolClient } from 'pg';
import type { CrmRecordRef } from '../domain/email';
import { DEFAULT_AUTHORITY_HOST, DEFAULT_GRAPH_BASE_URL, type GraphEndpoint } from '../mail/graph/graphEndpoint';
import type { MailServerEndpoint, SourceCursor } from '../mail/mailSource';
import {
  decideMailboxFailure,
  enabledAfterTest,
  mostMailboxesFailing,
  profileAudiences,
  serverUnreachable,
  type AlertAudience,
} from '../policy/failurePolicy';
import { observeServer, type ServerHealth } from '../policy/serverLoad';
import { defaultPort } from '../policy/serverProfiles';
import { storeIncomingBatch } from './pgIncomingBatch';
import { openGraphCredential } from '../secrets/graphCredential';
import type { SecretBox } from '../secrets/secretBox';
import { resolveAddresses } from './emailContent';
import {
  type ConnectivityResults,
  type CycleStats,
  type FailureRecorded,
  type IncomingBatchCommit,
  type MailboxFailure,
  type MailboxPlan,
  type MailboxSyncContext,
  type SuccessRecorded,
  type SyncStore,
  type TestAndEnableResult,
} from './syncStore';

/** A mailbox `m` with its profile `p`, the organisation's settings `o` and its owner, user `u` or queue `q`. */
export const MAILBOX_WITH_OWNER = `mailboxes m
  JOIN email_server_profiles p ON p.id = m.profile_id
  CROSS JOIN organization_settings o
  LEFT JOIN crm_users u ON u.id = m.owner_user_id
  LEFT JOIN crm_queues q ON q.id = m.owner_queue_id`;

/** The columns `mailboxEndpoints` reads, as the mailbox and profile rows name them. */
export const ENDPOINT_COLUMNS = `m.email_address, m.username, m.credentials, p.server_type, p.incoming_host, p.incoming_port, p.incoming_security,
  p.outgoing_host, p.outgoing_port, p.outgoing_security, p.connection_timeout_seconds,
  m.graph_user, p.tenant_id, p.client_id, p.credentials AS profile_credentials, p.graph_base_url, p.authority_host`;

interface EndpointRow {
  email_address: string;
  username: string | null;
  credentials: string | null;
  server_type: string;
  incoming_host: string;
  incoming_port: number | null;
  incoming_security: MailServerEndpoint['security'];
  outgoing_host: string | null;
  outgoing_port: number | null;
  outgoing_security: MailServerEndpoint['security'];
  connection_timeout_seconds: number;
  graph_user: string | null;
  tenant_id: string | null;
  client_id: string | null;
  profile_credentials: string | null;
  graph_base_url: string | null;
  authority_host: string | null;
}

/**
 * A mailbox's incoming and outgoing servers, credentials decrypted (the same for both directions).
 * An exchange_online mailbox has `graph` for both; its `incoming` names the Graph host (port 443,
 * TLS, the tenant user, no password) so messages and server-load records about it say where it
 * goes, and it has no SMTP server.
 */
export function mailboxEndpoints(
  r: EndpointRow,
  secrets: SecretBox,
): { incoming: MailServerEndpoint; outgoing: MailServerEndpoint | null; graph: GraphEndpoint | null } {
  const connectionTimeoutMs = r.connection_timeout_seconds * 1000;
  if (r.server_type === 'exchange_online') {
    const graph = graphEndpoint(r, secrets);
    const graphUrl = new URL(graph?.graphBaseUrl ?? r.graph_base_url ?? DEFAULT_GRAPH_BASE_URL);
    const user = r.graph_user ?? r.email_address;
    return {
      incoming: { host: graphUrl.hostname, port: Number(graphUrl.port || 443), security: 'tls', username: user, password: '', connectionTimeoutMs },
      outgoing: null,
      graph,
    };
  }
  const username = r.username ?? r.email_address;
  const password = r.credentials ? secrets.decrypt(r.credentials) : '';
  return {
    graph: null,
    incoming: {
      host: r.incoming_host,
      // A profile stored before ports were defaulted may have none.
      port: r.incoming_port ?? defaultPort(r.server_type === 'pop3' ? 'pop3' : 'imap', r.incoming_security),
      security: r.incoming_security,
      username,
      password,
      connectionTimeoutMs,
    },
    outgoing: r.outgoing_host
      ? { host: r.outgoing_host, port: r.outgoing_port ?? defaultPort('smtp', r.outgoing_security), security: r.outgoing_security, username, password, connectionTimeoutMs }
      : null,
  };
}

/**
 * The Graph endpoint of a mailbox on an exchange_online profile, the app's credential decrypted;
 * null while the profile lacks its tenant, client or credential (a row an older version stored).
 */
function graphEndpoint(r: EndpointRow, secrets: SecretBox): GraphEndpoint | null {
  if (!r.tenant_id || !r.client_id || !r.profile_credentials) return null;
  return {
    tenantId: r.tenant_id,
    clientId: r.client_id,
    credential: openGraphCredential(secrets, r.profile_credentials),
    graphBaseUrl: r.graph_base_url ?? DEFAULT_GRAPH_BASE_URL,
    authorityHost: r.authority_host ?? DEFAULT_AUTHORITY_HOST,
    user: r.graph_user ?? r.email_address,
    requestTimeoutMs: r.connection_timeout_seconds * 1000,
  };
}

export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export class PgSyncStore implements SyncStore {
  constructor(
    private readonly pool: Pool,
    private readonly secrets: SecretBox,
  ) {}

  async describeMailbox(mailboxId: string): Promise<MailboxPlan | null> {
    const { rows } = await this.pool.query(
      `SELECT m.id, m.email_address, m.profile_id, p.server_type, m.owner_user_id, coalesce(u.full_name, q.name) AS owner_name, m.incoming_enabled, m.items_enabled,
              m.incoming_status, m.mapping_version, m.consecutive_errors, m.last_error,
              NOT m.email_approved AND o.require_email_approval AS awaiting_approval,
              coalesce(m.min_polling_interval_seconds, p.min_polling_interval_seconds) AS min_polling_interval_seconds,
              h.response_ms, h.failures_in_row, h.throttled_until
         FROM mailboxes m JOIN email_server_profiles p ON p.id = m.profile_id CROSS JOIN organization_settings o
         LEFT JOIN crm_users u ON u.id = m.owner_user_id
         LEFT JOIN crm_queues q ON q.id = m.owner_queue_id
         LEFT JOIN server_health h ON h.profile_id = m.profile_id
        WHERE m.id = $1`,
      [mailboxId],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      mailboxId: r.id,
      emailAddress: r.email_address,
      profileId: r.profile_id,
      serverType: r.server_type,
      ownerUserId: r.owner_user_id,
      ownerName: r.owner_name,
      incomingEnabled: r.incoming_enabled,
      itemsEnabled: r.items_enabled,
      lastSyncFailed: r.incoming_status === 'failure',
      awaitingApproval: r.awaiting_approval,
      mappingVersion: r.mapping_version,
      minPollingIntervalMs: r.min_polling_interval_seconds * 1000,
      consecutiveErrors: r.consecutive_errors,
      lastError: r.last_error,
      serverHealth:
        r.response_ms === null
          ? null
          : { responseMs: r.response_ms, failuresInRow: r.failures_in_row, throttledUntil: r.throttled_until ? r.throttled_until.getTime() : null },
    };
  }

  async recordServerSample(profileId: string, sample: { responseMs?: number; connectionFailed: boolean; throttledForMs?: number }): Promise<void> {
    await inTransaction(this.pool, async (db) => {
      await db.query(`INSERT INTO server_health (profile_id) VALUES ($1) ON CONFLICT DO NOTHING`, [profileId]);
      const { rows } = await db.query(`SELECT response_ms, failures_in_row, throttled_until FROM server_health WHERE profile_id = $1 FOR UPDATE`, [
        profileId,
      ]);
      const current: ServerHealth = {
        responseMs: rows[0].response_ms,
        failuresInRow: rows[0].failures_in_row,
        throttledUntil: rows[0].throttled_until ? rows[0].throttled_until.getTime() : null,
      };
      const next = observeServer(current, sample, Date.now());
      await db.query(
        `UPDATE server_health SET response_ms = $2, failures_in_row = $3, throttled_until = $4, updated_at = now() WHERE profile_id = $1`,
        [profileId, next.responseMs, next.failuresInRow, next.throttledUntil === null ? null : new Date(next.throttledUntil)],
      );
    });
  }

  async loadSyncContext(mailboxId: string): Promise<MailboxSyncContext | null> {
    const { rows } = await this.pool.query(
      `SELECT m.id, m.owner_user_id, m.owner_queue_id, m.mapping_version, m.folders, m.incoming_enabled, m.items_enabled,
              m.profile_id, p.max_concurrent_connections, ${ENDPOINT_COLUMNS},
              coalesce(u.tracking_option, q.tracking_option, 'all') AS tracking_option,
              coalesce(u.create_contacts_for_unknown_senders, false) AS create_contacts_for_unknown_senders,
              m.track_sent_folder, m.sent_folder, o.smart_matching, o.correlate_forwards,
              ARRAY(SELECT lower(d) FROM unnest(o.own_domains) d) AS own_domains,
              ARRAY(SELECT o.tracking_token_prefix
                    UNION SELECT x.tracking_token_prefix FROM mailboxes x WHERE x.tracking_token_mode = 'custom') AS token_prefixes,
              p.process_email_from, p.max_message_bytes, m.delete_after_processing,
              coalesce((SELECT jsonb_object_agg(c.folder, c.cursor) FROM folder_cursors c WHERE c.mailbox_id = m.id), '{}') AS cursors
         FROM ${MAILBOX_WITH_OWNER}
        WHERE m.id = $1`,
      [mailboxId],
    );
    const r = rows[0];
    if (!r) return null;
    const { incoming, outgoing, graph } = mailboxEndpoints(r, this.secrets);
    return {
      mailboxId: r.id,
      emailAddress: r.email_address,
      ownerUserId: r.owner_user_id,
      ownerQueueId: r.owner_queue_id,
      mappingVersion: r.mapping_version,
      profileId: r.profile_id,
      maxConcurrentConnections: r.max_concurrent_connections,
      tracking: {
        option: r.tracking_option,
        smartMatching: r.smart_matching,
        correlateForwards: r.correlate_forwards,
        tokenPrefixes: r.token_prefixes,
        ownDomains: r.own_domains,
        createContactsForUnknownSenders: r.create_contacts_for_unknown_senders,
      },
      folders: r.folders,
      trackSentFolder: r.track_sent_folder,
      sentFolder: r.sent_folder,
      incomingEnabled: r.incoming_enabled,
      itemsEnabled: r.items_enabled,
      serverType: r.server_type,
      endpoint: incoming,
      outgoing,
      graph,
      processEmailFrom: r.process_email_from,
      maxMessageBytes: r.max_message_bytes,
      deleteAfterProcessing: r.delete_after_processing,
      cursors: new Map(Object.entries(r.cursors as Record<string, SourceCursor>)),
    };
  }

  async resolveAddresses(addresses: string[]): Promise<Map<string, CrmRecordRef>> {
    return resolveAddresses(this.pool, addresses);
  }

  async commitIncomingBatch(commit: IncomingBatchCommit): Promise<{ created: number; storedRemoteIds: string[] }> {
    return inTransaction(this.pool, (db) => storeIncomingBatch(db, commit));
  }

  async lookupSeen(mailboxId: string, folder: string, remoteIds: string[]): Promise<{ seen: Set<string>; stored: Set<string>; unlisted: number }> {
    const { rows } = await this.pool.query(
      `SELECT s.remote_id, s.remote_id = ANY($3::text[]) AS listed, l.remote_id IS NOT NULL AS stored
         FROM seen_remote_ids s
         LEFT JOIN item_links l ON l.mailbox_id = s.mailbox_id AND l.folder = s.folder AND l.remote_id = s.remote_id
        WHERE s.mailbox_id = $1 AND s.folder = $2`,
      [mailboxId, folder, remoteIds],
    );
    const seen = new Set<string>();
    const stored = new Set<string>();
    let unlisted = 0;
    for (const r of rows as { remote_id: string; listed: boolean; stored: boolean }[]) {
      if (!r.listed) unlisted++;
      else {
        seen.add(r.remote_id);
        if (r.stored) stored.add(r.remote_id);
      }
    }
    return { seen, stored, unlisted };
  }

  async recordCycleStart(mailboxId: string): Promise<void> {
    await this.pool.query(`UPDATE mailboxes SET last_sync_started_at = now() WHERE id = $1`, [mailboxId]);
  }

  async recordCycleSuccess(mailboxId: string, stats: CycleStats): Promise<SuccessRecorded> {
    return inTransaction(this.pool, async (db) => {
      const { rows } = await db.query(
        `UPDATE mailboxes SET last_sync_completed_at = now(), last_success_at = now(), sync_progress = NULL,
                incoming_status = 'success', incoming_tested_at = now(), incoming_test_message = 'The last sync succeeded',
                consecutive_errors = 0, own_errors_in_row = 0, last_error = NULL, last_error_at = NULL,
                items_processed_last_cycle = $2, items_failed_last_cycle = $3, next_sync_at = $4
          WHERE id = $1 RETURNING profile_id`,
        [mailboxId, stats.itemsProcessed, stats.itemsFailed, stats.nextSyncAt],
      );
      if (!rows[0]) return { wake: [] };
      const profileId: string = rows[0].profile_id;
      await resolveAlerts(db, { mailboxId });
      const recovered = await db.query(
        `UPDATE server_health SET unreachable_since = NULL WHERE profile_id = $1 AND unreachable_since IS NOT NULL RETURNING profile_id`,
        [profileId],
      );
      let wake: string[] = [];
      if (recovered.rowCount) {
        await resolveAlerts(db, { profileId, conditionKey: 'server_unreachable' });
        const { rows: waiting } = await db.query(
          `SELECT id FROM mailboxes WHERE profile_id = $1 AND id <> $2 AND incoming_enabled AND consecutive_errors > 0`,
          [profileId, mailboxId],
        );
        wake = waiting.map((w) => w.id);
      }
      // Counting the profile's mailboxes is for an open "most are failing" alert only, not every cycle.
      const { rowCount: profileFailing } = await db.query(
        `SELECT 1 FROM alerts WHERE condition_key = 'profile_failing' AND coalesce(mailbox_id, profile_id) = $1 AND resolved_at IS NULL`,
        [profileId],
      );
      if (profileFailing && !mostMailboxesFailing(await failingCounts(db, profileId))) {
        await resolveAlerts(db, { profileId, conditionKey: 'profile_failing' });
      }
      return { wake };
    });
  }

  async recordMailboxFailure(mailboxId: string, failure: MailboxFailure): Promise<FailureRecorded> {
    return inTransaction(this.pool, async (db) => {
      const { rows } = await db.query(
        `SELECT m.email_address, m.owner_user_id, m.own_errors_in_row, m.profile_id, p.name AS profile_name,
                p.owner_user_id AS profile_owner_user_id, p.incoming_host, p.incoming_port,
                coalesce(h.failures_in_row, 0) AS failures_in_row, h.unreachable_since,
                (SELECT count(*) FROM mailboxes x WHERE x.profile_id = m.profile_id AND x.incoming_enabled)::int AS enabled_mailboxes
           FROM mailboxes m JOIN email_server_profiles p ON p.id = m.profile_id
           LEFT JOIN server_health h ON h.profile_id = m.profile_id
          WHERE m.id = $1 FOR UPDATE OF m`,
        [mailboxId],
      );
      const m = rows[0];
      if (!m) return { disabled: false };
      const decision = decideMailboxFailure({
        errorClass: failure.errorClass,
        unreachable: failure.unreachable,
        ownErrorsInRow: m.own_errors_in_row,
        hasOwner: m.owner_user_id !== null,
      });
      const message = failure.message + decision.suffix;
      await db.query(
        `UPDATE mailboxes SET last_sync_completed_at = now(), last_error = $2, last_error_at = now(), sync_progress = NULL,
                consecutive_errors = $3, own_errors_in_row = $4,
                incoming_status = CASE WHEN $5 THEN 'failure' ELSE incoming_status END,
                incoming_tested_at = CASE WHEN $5 THEN now() ELSE incoming_tested_at END,
                incoming_test_message = CASE WHEN $5 THEN $2 ELSE incoming_test_message END,
                incoming_enabled = incoming_enabled AND NOT $5,
                next_sync_at = CASE WHEN $5 THEN NULL ELSE $6::timestamptz END
          WHERE id = $1`,
        [mailboxId, message, failure.consecutiveErrors, decision.ownErrorsInRow, decision.disable, failure.nextSyncAt],
      );
      await db.query(`INSERT INTO sync_errors (mailbox_id, scope, error_class, message) VALUES ($1, 'mailbox', $2, $3)`, [
        mailboxId,
        decision.disable ? 'permanent' : failure.errorClass,
        message,
      ]);
      if (decision.alert) {
        await raiseAlert(db, {
          conditionKey: 'mailbox_failure',
          level: decision.alert.level,
          scope: 'mailbox',
          audiences: decision.alert.audiences,
          mailboxId,
          profileId: m.profile_id,
          userId: m.owner_user_id,
          message: `Mailbox ${m.email_address}: ${message}`,
        });
      }
      const profileAlert = { profileId: m.profile_id, audiences: profileAudiences(m.profile_owner_user_id), userId: m.profile_owner_user_id };
      if (failure.unreachable) {
        if (serverUnreachable({ failuresInRow: m.failures_in_row, enabledMailboxes: m.enabled_mailboxes })) {
          await db.query(`UPDATE server_health SET unreachable_since = coalesce(unreachable_since, now()) WHERE profile_id = $1`, [m.profile_id]);
          await raiseAlert(db, {
            ...profileAlert,
            conditionKey: 'server_unreachable',
            level: 'error',
            scope: 'server_profile',
            message:
              `Server profile ${m.profile_name}: the mail server ${m.incoming_host}:${m.incoming_port} cannot be reached (${failure.message}). ` +
              'Its mailboxes stay enabled and keep retrying; they resume when it answers. Check the server and the network to it.',
          });
        }
      } else {
        const counts = await failingCounts(db, m.profile_id);
        if (mostMailboxesFailing(counts)) {
          await raiseAlert(db, {
            ...profileAlert,
            conditionKey: 'profile_failing',
            level: 'error',
            scope: 'server_profile',
            message: `Server profile ${m.profile_name}: ${counts.failing} of its ${counts.total} mailboxes are failing to sync; check the server and the profile's settings`,
          });
        }
      }
      return { disabled: decision.disable };
    });
  }

  async recordTestResults(mailboxId: string, results: ConnectivityResults): Promise<TestAndEnableResult> {
    return inTransaction(this.pool, async (db) => {
      const { rows } = await db.query(
        `SELECT m.incoming_enabled, m.outgoing_enabled, m.items_enabled, m.email_approved OR NOT o.require_email_approval AS approved
           FROM mailboxes m CROSS JOIN organization_settings o WHERE m.id = $1 FOR UPDATE OF m`,
        [mailboxId],
      );
      const r = rows[0];
      if (!r) throw new Error(`Mailbox ${mailboxId} does not exist`);
      const incomingEnabled = enabledAfterTest(results.incoming, { enabled: r.incoming_enabled, approved: r.approved });
      const outgoingEnabled = enabledAfterTest(results.outgoing, { enabled: r.outgoing_enabled, approved: r.approved });
      const itemsEnabled = enabledAfterTest(results.items, { enabled: r.items_enabled, approved: r.approved });
      const incomingPassed = results.incoming.status === 'success';
      await db.query(
        `UPDATE mailboxes SET
                incoming_status = $2, incoming_tested_at = $3, incoming_test_message = $4,
                outgoing_status = $5, outgoing_tested_at = $6, outgoing_test_message = $7,
                items_status = $8, items_tested_at = $9, items_test_message = $10,
                incoming_enabled = $11, outgoing_enabled = $12, items_enabled = $14,
                consecutive_errors = CASE WHEN $13 THEN 0 ELSE consecutive_errors END,
                own_errors_in_row = CASE WHEN $13 THEN 0 ELSE own_errors_in_row END,
                last_error = CASE WHEN $13 THEN NULL ELSE last_error END,
                last_error_at = CASE WHEN $13 THEN NULL ELSE last_error_at END,
                next_sync_at = CASE WHEN $11 THEN next_sync_at END,
                updated_at = now()
          WHERE id = $1`,
        [
          mailboxId,
          ...[results.incoming, results.outgoing, results.items].flatMap((d) => [d.status, d.status === 'not_run' ? null : d.testedAt, d.message]),
          incomingEnabled,
          outgoingEnabled,
          incomingPassed,
          itemsEnabled,
        ],
      );
      if (results.outgoing.status === 'success') await resolveAlerts(db, { mailboxId, conditionKey: 'outgoing_failure' });
      if (results.items.status === 'success') await resolveAlerts(db, { mailboxId, conditionKey: 'items_failure' });
      if (!r.approved) {
        const { rows: m } = await db.query(`SELECT email_address, profile_id FROM mailboxes WHERE id = $1`, [mailboxId]);
        await raiseAlert(db, {
          conditionKey: 'awaiting_approval',
          level: 'warning',
          scope: 'mailbox',
          audiences: ['admins'],
          mailboxId,
          profileId: m[0].profile_id,
          userId: null,
          message: `Mailbox ${m[0].email_address} was tested but is not enabled: its email address is not approved`,
        });
      }
      return { ...results, incomingEnabled, outgoingEnabled, itemsEnabled };
    });
  }
}

/**
 * A queue mailbox's emails become the queue's items, once each: a copy synced again, or one whose
 * activity another mailbox stored first, adds none. One statement, in the batch's transaction.
 */
export interface NewAlert {
  /** What the alert is about: while an alert with this key and subject is open, a repeat only bumps it. */
  conditionKey: 'mailbox_failure' | 'server_unreachable' | 'profile_failing' | 'awaiting_approval' | 'outgoing_failure' | 'items_failure';
  level: 'error' | 'warning' | 'information';
  scope: 'mailbox' | 'server_profile';
  audiences: AlertAudience[];
  mailboxId?: string;
  profileId: string;
  /** The owner the alert is for; required when an audience is an owner. */
  userId: string | null;
  message: string;
}

/**
 * Turns one direction of a mailbox off after a failure no retry fixes: its status, test message and
 * an error alert for the owner and admins, worded by `alertMessage` from the mailbox's address.
 */
export async function disableDirection(
  pool: Pool,
  mailboxId: string,
  direction: { name: 'outgoing' | 'items'; conditionKey: 'outgoing_failure' | 'items_failure' },
  reason: string,
  alertMessage: (emailAddress: string) => string,
): Promise<void> {
  const d = direction.name;
  await inTransaction(pool, async (db) => {
    const { rows } = await db.query(
      `UPDATE mailboxes SET ${d}_enabled = false, ${d}_status = 'failure', ${d}_test_message = $2, ${d}_tested_at = now(),
              ${d === 'items' ? 'items_last_error = $2,' : ''} updated_at = now()
        WHERE id = $1 RETURNING email_address, profile_id, owner_user_id`,
      [mailboxId, reason],
    );
    const m = rows[0];
    if (!m) return;
    await raiseAlert(db, {
      conditionKey: direction.conditionKey,
      level: 'error',
      scope: 'mailbox',
      audiences: m.owner_user_id ? ['mailbox_owner', 'admins'] : ['admins'],
      mailboxId,
      profileId: m.profile_id,
      userId: m.owner_user_id,
      message: alertMessage(m.email_address),
    });
  });
}

/** Raises the alert, or bumps the open one for the same condition and subject (an error outranks a warning). */
export async function raiseAlert(db: PoolClient, a: NewAlert): Promise<void> {
  await db.query(
    `INSERT INTO alerts (condition_key, level, scope, audiences, mailbox_id, profile_id, user_id, message)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (condition_key, (coalesce(mailbox_id, profile_id))) WHERE resolved_at IS NULL AND condition_key IS NOT NULL
     DO UPDATE SET last_seen_at = now(), occurrences = alerts.occurrences + 1, message = excluded.message,
                   level = CASE WHEN alerts.level = 'error' THEN 'error' ELSE excluded.level END,
                   audiences = ARRAY(SELECT DISTINCT unnest(alerts.audiences || excluded.audiences) ORDER BY 1),
                   user_id = coalesce(excluded.user_id, alerts.user_id)`,
    [a.conditionKey, a.level, a.scope, a.audiences, a.scope === 'mailbox' ? a.mailboxId : null, a.profileId, a.userId, a.message],
  );
}

/**
 * Resolves open alerts: a mailbox's incoming conditions (all but outgoing_failure and items_failure,
 * which only their own direction's success or test resolves), one condition of a mailbox, or one of a profile.
 * Kept, with resolved_at.
 */
export async function resolveAlerts(
  db: PoolClient,
  of: { mailboxId: string; conditionKey?: NewAlert['conditionKey'] } | { profileId: string; conditionKey: NewAlert['conditionKey'] },
): Promise<void> {
  if ('mailboxId' in of) {
    await db.query(
      `UPDATE alerts SET resolved_at = now()
        WHERE mailbox_id = $1 AND resolved_at IS NULL
          AND CASE WHEN $2::text IS NULL THEN condition_key IS NOT NULL AND condition_key NOT IN ('outgoing_failure', 'items_failure') ELSE condition_key = $2 END`,
      [of.mailboxId, of.conditionKey ?? null],
    );
  } else {
    await db.query(
      `UPDATE alerts SET resolved_at = now() WHERE mailbox_id IS NULL AND profile_id = $1 AND condition_key = $2 AND resolved_at IS NULL`,
      [of.profileId, of.conditionKey],
    );
  }
}

/** A profile's mailboxes, and those failing for their own reasons (disabled by an error, or in a streak of their own). */
async function failingCounts(db: PoolClient, profileId: string): Promise<{ failing: number; total: number }> {
  const { rows } = await db.query(
    `SELECT count(*)::int AS total,
            count(*) FILTER (WHERE (NOT incoming_enabled AND incoming_status = 'failure') OR own_errors_in_row > 0)::int AS failing
       FROM mailboxes WHERE profile_id = $1`,
    [profileId],
  );
  return rows[0];
}
