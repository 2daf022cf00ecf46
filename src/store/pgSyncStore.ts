import type { Pool, PoolClient } from 'pg';
import type { CrmRecordRef, CrmRecordType } from '../domain/email';
import type { SourceCursor } from '../mail/mailSource';
import { observeServer, type ServerHealth } from '../policy/serverLoad';
import { defaultPort } from '../policy/serverProfiles';
import type { SecretBox } from '../secrets/secretBox';
import {
  SyncSupersededError,
  type ConnectivityResults,
  type CycleStats,
  type IncomingBatchCommit,
  type MailboxFailure,
  type MailboxPlan,
  type MailboxSyncContext,
  type SyncStore,
  type TestAndEnableResult,
} from './syncStore';

// When one address is several CRM records, the first kind here wins.
const RESOLUTION_ORDER: CrmRecordType[] = ['user', 'contact', 'lead', 'account'];

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
      `SELECT m.id, m.profile_id, p.server_type, m.owner_user_id, m.incoming_enabled, m.incoming_status, m.mapping_version,
              NOT m.email_approved AND o.require_email_approval AS awaiting_approval,
              coalesce(m.min_polling_interval_seconds, p.min_polling_interval_seconds) AS min_polling_interval_seconds,
              h.response_ms, h.failures_in_row, h.throttled_until
         FROM mailboxes m JOIN email_server_profiles p ON p.id = m.profile_id CROSS JOIN organization_settings o
         LEFT JOIN server_health h ON h.profile_id = m.profile_id
        WHERE m.id = $1`,
      [mailboxId],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      mailboxId: r.id,
      profileId: r.profile_id,
      serverType: r.server_type,
      ownerUserId: r.owner_user_id,
      incomingEnabled: r.incoming_enabled,
      lastSyncFailed: r.incoming_status === 'failure',
      awaitingApproval: r.awaiting_approval,
      mappingVersion: r.mapping_version,
      minPollingIntervalMs: r.min_polling_interval_seconds * 1000,
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
      `SELECT m.id, m.email_address, m.owner_user_id, m.mapping_version, m.username, m.credentials, m.folders, m.incoming_enabled,
              m.profile_id, p.max_concurrent_connections,
              p.outgoing_host, p.outgoing_port, p.outgoing_security,
              coalesce(u.tracking_option, 'all') AS tracking_option,
              p.server_type, p.incoming_host, p.incoming_port, p.incoming_security, p.connection_timeout_seconds,
              p.process_email_from, p.max_message_bytes,
              coalesce((SELECT jsonb_object_agg(c.folder, c.cursor) FROM folder_cursors c WHERE c.mailbox_id = m.id), '{}') AS cursors
         FROM mailboxes m
         JOIN email_server_profiles p ON p.id = m.profile_id
         LEFT JOIN crm_users u ON u.id = m.owner_user_id
        WHERE m.id = $1`,
      [mailboxId],
    );
    const r = rows[0];
    if (!r) return null;
    const username = r.username ?? r.email_address;
    const password = r.credentials ? this.secrets.decrypt(r.credentials) : '';
    const connectionTimeoutMs = r.connection_timeout_seconds * 1000;
    return {
      mailboxId: r.id,
      emailAddress: r.email_address,
      ownerUserId: r.owner_user_id,
      mappingVersion: r.mapping_version,
      profileId: r.profile_id,
      maxConcurrentConnections: r.max_concurrent_connections,
      trackingOption: r.tracking_option,
      folders: r.folders,
      incomingEnabled: r.incoming_enabled,
      serverType: r.server_type,
      endpoint: {
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
      processEmailFrom: r.process_email_from,
      maxMessageBytes: r.max_message_bytes,
      cursors: new Map(Object.entries(r.cursors as Record<string, SourceCursor>)),
    };
  }

  async resolveAddresses(addresses: string[]): Promise<Map<string, CrmRecordRef>> {
    const unique = [...new Set(addresses.map((a) => a.toLowerCase()))];
    const resolved = new Map<string, CrmRecordRef>();
    if (unique.length === 0) return resolved;
    const { rows } = await this.pool.query(
      `SELECT 'user' AS type, id, lower(email) AS address FROM crm_users WHERE lower(email) = ANY($1)
       UNION ALL SELECT 'contact', id, lower(email) FROM contacts WHERE lower(email) = ANY($1)
       UNION ALL SELECT 'lead', id, lower(email) FROM leads WHERE lower(email) = ANY($1)
       UNION ALL SELECT 'account', id, lower(email) FROM accounts WHERE lower(email) = ANY($1)`,
      [unique],
    );
    const rank = (t: CrmRecordType) => RESOLUTION_ORDER.indexOf(t);
    for (const row of rows as { type: CrmRecordType; id: string; address: string }[]) {
      const current = resolved.get(row.address);
      if (!current || rank(row.type) < rank(current.type)) resolved.set(row.address, { type: row.type, id: row.id });
    }
    return resolved;
  }

  async findTrackedMessageIds(messageIds: string[]): Promise<Set<string>> {
    if (messageIds.length === 0) return new Set();
    const { rows } = await this.pool.query(`SELECT message_id FROM email_activities WHERE message_id = ANY($1)`, [messageIds]);
    return new Set(rows.map((r) => r.message_id));
  }

  async commitIncomingBatch(commit: IncomingBatchCommit): Promise<{ created: number }> {
    return inTransaction(this.pool, async (db) => {
      // Holds off a concurrent remap or disable until this batch is in, and refuses the batch
      // if one already happened: nothing synced after a remap belongs to the old owner.
      const { rows: current } = await db.query(`SELECT mapping_version, incoming_enabled FROM mailboxes WHERE id = $1 FOR SHARE`, [
        commit.mailboxId,
      ]);
      if (!current[0] || !current[0].incoming_enabled) throw new SyncSupersededError('disabled');
      if (current[0].mapping_version !== commit.mappingVersion) throw new SyncSupersededError('remapped');
      if (commit.reset) {
        await db.query(`DELETE FROM item_links WHERE mailbox_id = $1 AND folder = $2`, [commit.mailboxId, commit.folder]);
      }
      let created = 0;
      if (commit.emails.length > 0) {
        const ids = await this.upsertActivities(db, commit);
        created = ids.created.size;
        const parties = commit.emails.flatMap((e) =>
          ids.created.has(e.message.messageId)
            ? e.parties.map((p) => ({
                email_activity_id: ids.byMessageId.get(e.message.messageId),
                role: p.role,
                address: p.address,
                display_name: p.name,
                party_type: p.record?.type ?? null,
                party_id: p.record?.id ?? null,
              }))
            : [],
        );
        if (parties.length > 0) {
          await db.query(
            `INSERT INTO email_parties (email_activity_id, role, address, display_name, party_type, party_id)
             SELECT * FROM jsonb_to_recordset($1::jsonb)
               AS r(email_activity_id uuid, role text, address text, display_name text, party_type text, party_id uuid)
             ON CONFLICT DO NOTHING`,
            [JSON.stringify(parties)],
          );
        }
        const links = commit.emails.map((e) => ({ remote_id: e.remoteId, crm_record_id: ids.byMessageId.get(e.message.messageId) }));
        await db.query(
          `INSERT INTO item_links (mailbox_id, folder, remote_id, item_type, crm_record_id, owner_user_id)
           SELECT $1, $2, r.remote_id, 'email', r.crm_record_id, $4
             FROM jsonb_to_recordset($3::jsonb) AS r(remote_id text, crm_record_id uuid)
           ON CONFLICT DO NOTHING`,
          [commit.mailboxId, commit.folder, JSON.stringify(links), commit.ownerUserId],
        );
      }
      if (commit.errors.length > 0) {
        const errors = JSON.stringify(commit.errors.map((e) => ({ remote_id: e.remoteId, message: e.message })));
        await db.query(
          `INSERT INTO sync_errors (mailbox_id, scope, error_class, folder, remote_id, message)
           SELECT $1, 'item', 'item', $2, r.remote_id, r.message FROM jsonb_to_recordset($3::jsonb) AS r(remote_id text, message text)
           ON CONFLICT (mailbox_id, folder, remote_id) WHERE scope = 'item'
           DO UPDATE SET message = excluded.message, occurred_at = now()`,
          [commit.mailboxId, commit.folder, errors],
        );
        await db.query(
          `INSERT INTO alerts (level, scope, audience, mailbox_id, user_id, message)
           SELECT 'warning', 'email_item', 'mailbox_owner', $1, $2, format('A message in %s was not synced: %s', $3::text, r.message)
             FROM jsonb_to_recordset($4::jsonb) AS r(remote_id text, message text)`,
          [commit.mailboxId, commit.ownerUserId, commit.folder, errors],
        );
      }
      if (commit.progress) {
        await db.query(
          `UPDATE mailboxes SET sync_progress = $2::jsonb || jsonb_build_object('updatedAt', now(), 'startedAt', last_sync_started_at)
            WHERE id = $1`,
          [commit.mailboxId, JSON.stringify(commit.progress)],
        );
      }
      if (commit.cursor) {
        await db.query(
          `INSERT INTO folder_cursors (mailbox_id, folder, cursor) VALUES ($1, $2, $3)
           ON CONFLICT (mailbox_id, folder) DO UPDATE SET cursor = excluded.cursor, updated_at = now()`,
          [commit.mailboxId, commit.folder, JSON.stringify(commit.cursor)],
        );
      }
      return { created };
    });
  }

  /** Inserts the activities that are new and returns the ids of all, new or already stored. */
  private async upsertActivities(db: PoolClient, commit: IncomingBatchCommit) {
    const rows = commit.emails.map(({ message: m, receivedAt }) => ({
      message_id: m.messageId,
      subject: m.subject,
      body_text: m.bodyText,
      sent_at: m.sentAt,
      received_at: receivedAt,
      in_reply_to: m.inReplyTo,
      refs: m.references,
      size_bytes: m.sizeBytes,
      attachments: m.attachments,
    }));
    const { rows: inserted } = await db.query(
      `INSERT INTO email_activities (message_id, subject, body_text, sent_at, received_at, in_reply_to, "references", size_bytes, attachments)
       SELECT r.message_id, r.subject, r.body_text, r.sent_at, r.received_at, r.in_reply_to,
              ARRAY(SELECT jsonb_array_elements_text(r.refs)), r.size_bytes, r.attachments
         FROM jsonb_to_recordset($1::jsonb) AS r(message_id text, subject text, body_text text, sent_at timestamptz,
              received_at timestamptz, in_reply_to text, refs jsonb, size_bytes integer, attachments jsonb)
       ON CONFLICT (message_id) DO NOTHING
       RETURNING id, message_id`,
      [JSON.stringify(rows)],
    );
    const byMessageId = new Map<string, string>(inserted.map((r) => [r.message_id, r.id]));
    const created = new Set(byMessageId.keys());
    const missing = [...new Set(rows.map((r) => r.message_id))].filter((id) => !byMessageId.has(id));
    if (missing.length > 0) {
      const { rows: existing } = await db.query(`SELECT id, message_id FROM email_activities WHERE message_id = ANY($1)`, [missing]);
      for (const r of existing) byMessageId.set(r.message_id, r.id);
    }
    return { byMessageId, created };
  }

  async recordCycleStart(mailboxId: string): Promise<void> {
    await this.pool.query(`UPDATE mailboxes SET last_sync_started_at = now() WHERE id = $1`, [mailboxId]);
  }

  async recordCycleSuccess(mailboxId: string, stats: CycleStats): Promise<void> {
    await this.pool.query(
      `UPDATE mailboxes SET last_sync_completed_at = now(), last_success_at = now(), incoming_status = 'success', sync_progress = NULL,
              consecutive_errors = 0, items_processed_last_cycle = $2, items_failed_last_cycle = $3, next_sync_at = $4
        WHERE id = $1`,
      [mailboxId, stats.itemsProcessed, stats.itemsFailed, stats.nextSyncAt],
    );
  }

  async recordMailboxFailure(mailboxId: string, failure: MailboxFailure): Promise<void> {
    await inTransaction(this.pool, async (db) => {
      await db.query(
        `UPDATE mailboxes SET last_sync_completed_at = now(), last_error = $2, last_error_at = now(), consecutive_errors = $3, sync_progress = NULL,
                incoming_status = CASE WHEN $4 THEN 'failure' ELSE incoming_status END,
                incoming_enabled = incoming_enabled AND NOT $4,
                next_sync_at = $5
          WHERE id = $1`,
        [mailboxId, failure.message, failure.consecutiveErrors, failure.disable, failure.nextSyncAt],
      );
      await db.query(`INSERT INTO sync_errors (mailbox_id, scope, error_class, message) VALUES ($1, 'mailbox', $2, $3)`, [
        mailboxId,
        failure.errorClass,
        failure.message,
      ]);
      // Permanent: an error for the owner and the admins. Transient: one warning per streak.
      const audiences = failure.disable ? ['mailbox_owner', 'admins'] : failure.consecutiveErrors === 1 ? ['mailbox_owner'] : [];
      if (audiences.length > 0) {
        await db.query(
          `INSERT INTO alerts (level, scope, audience, mailbox_id, profile_id, user_id, message)
           SELECT $2, 'mailbox', a, m.id, m.profile_id, CASE WHEN a = 'mailbox_owner' THEN m.owner_user_id END,
                  format('Mailbox %s: %s', m.email_address, $3::text)
             FROM mailboxes m, unnest($4::text[]) AS a WHERE m.id = $1`,
          [mailboxId, failure.disable ? 'error' : 'warning', failure.message, audiences],
        );
      }
      await this.raiseProfileAlertIfMostFail(db, mailboxId);
    });
  }

  /** A profile-level alert, at most hourly, when more than half of a profile's mailboxes failed within the hour. */
  private async raiseProfileAlertIfMostFail(db: PoolClient, mailboxId: string): Promise<void> {
    await db.query(
      `WITH p AS (SELECT profile_id AS id FROM mailboxes WHERE id = $1),
            counts AS (
              SELECT count(*) AS total,
                     count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM sync_errors e WHERE e.mailbox_id = m.id AND e.scope = 'mailbox'
                          AND e.occurred_at > now() - interval '1 hour')) AS failing
                FROM mailboxes m, p WHERE m.profile_id = p.id)
       INSERT INTO alerts (level, scope, audience, profile_id, user_id, message)
       SELECT 'error', 'server_profile', a, s.id, CASE WHEN a = 'profile_owner' THEN s.owner_user_id END,
              format('Server profile %s: %s of its %s mailboxes failed to sync within the last hour', s.name, c.failing, c.total)
         FROM p JOIN email_server_profiles s ON s.id = p.id, counts c, unnest(ARRAY['profile_owner', 'admins']) AS a
        WHERE c.failing * 2 > c.total
          AND NOT EXISTS (SELECT 1 FROM alerts x WHERE x.profile_id = p.id AND x.scope = 'server_profile'
                             AND x.created_at > now() - interval '1 hour')`,
      [mailboxId],
    );
  }

  async recordTestResults(mailboxId: string, results: ConnectivityResults): Promise<TestAndEnableResult> {
    return inTransaction(this.pool, async (db) => {
      const { rows } = await db.query(
        `UPDATE mailboxes m SET
                incoming_status = $2, incoming_tested_at = $3, incoming_test_message = $4,
                outgoing_status = $5, outgoing_tested_at = $6, outgoing_test_message = $7,
                items_status = $8, items_tested_at = $9, items_test_message = $10,
                incoming_enabled = ($2 = 'success' AND (m.email_approved OR NOT o.require_email_approval)),
                outgoing_enabled = ($5 = 'success' AND (m.email_approved OR NOT o.require_email_approval)),
                consecutive_errors = CASE WHEN $2 = 'success' THEN 0 ELSE m.consecutive_errors END,
                last_error = CASE WHEN $2 = 'success' THEN NULL ELSE m.last_error END,
                updated_at = now()
           FROM organization_settings o
          WHERE m.id = $1
      RETURNING m.incoming_enabled, m.outgoing_enabled, m.email_approved, o.require_email_approval`,
        [
          mailboxId,
          ...[results.incoming, results.outgoing, results.items].flatMap((r) => [r.status, r.status === 'not_run' ? null : r.testedAt, r.message]),
        ],
      );
      const r = rows[0];
      if (!r) throw new Error(`Mailbox ${mailboxId} does not exist`);
      if (!r.email_approved && r.require_email_approval) {
        await db.query(
          `INSERT INTO alerts (level, scope, audience, mailbox_id, message)
           SELECT 'warning', 'mailbox', 'admins', id, format('Mailbox %s was tested but is not enabled: its email address is not approved', email_address)
             FROM mailboxes WHERE id = $1`,
          [mailboxId],
        );
      }
      return { ...results, incomingEnabled: r.incoming_enabled, outgoingEnabled: r.outgoing_enabled };
    });
  }
}
