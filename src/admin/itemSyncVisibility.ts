import type { Pool } from 'pg';
import { z } from 'zod';
import type { CrmItems } from '../crm/crmItems';
import { ITEM_ENTITIES, type ItemEntity } from '../crm/itemFields';
import { itemCounts } from '../policy/itemVisibility';
import { CRM_SCOPE } from '../store/itemSyncStore';
import { mailboxOrigin } from '../sync/items/itemSync';
import { AdminError, ConflictError, NotFoundError } from './errors';

/** One entity's item sync in a mailbox: see src/policy/itemVisibility.ts for what pending counts. */
export interface ItemEntityStatus {
  linked: number;
  pending: number;
  /** Items with an item error (item_sync_errors), both sides. */
  failed: number;
  /** The newest of those errors; null while nothing fails. */
  lastError: { message: string; at: Date } | null;
}

export interface ItemSyncStatus {
  contact: ItemEntityStatus;
  appointment: ItemEntityStatus;
  task: ItemEntityStatus;
  /** Why the last item sync as a whole failed (the mail server unreachable, ...); null when it ran. */
  lastRunError: string | null;
}

export const ITEM_SIDES = ['crm', 'exchange'] as const;
export type ItemSide = (typeof ITEM_SIDES)[number];

/** Which failed item to retry. */
export const ItemRetryInput = z.strictObject({
  entity: z.enum(ITEM_ENTITIES),
  side: z.enum(ITEM_SIDES).describe('crm: a CRM record the mail server refused; exchange: a mail-server item the CRM refused'),
  itemKey: z.string().min(1).max(1000).describe('The CRM id (side crm) or the mail-server item id (side exchange), as the item errors list it'),
});

/** A failed item as the API and CLI list it. */
export interface ItemErrorView {
  entity: ItemEntity;
  /** crm: a CRM record the mail server refused; exchange: a mail-server item the CRM refused. */
  side: ItemSide;
  /** The CRM id (side crm) or the mail-server item's id (side exchange). */
  itemKey: string;
  /** The CRM record's name or subject, when it still exists (side crm). */
  label: string | null;
  container: string | null;
  reason: string;
  whatToDo: string;
  attempts: number;
  occurredAt: Date;
  /** A retry asked for and not yet run; null when none waits. */
  retryRequestedAt: Date | null;
}

export interface ItemRetryResult {
  mailboxId: string;
  entity: ItemEntity;
  side: ItemSide;
  itemKey: string;
  requestedAt: Date;
  /** pending: the mailbox has not run it yet; cleared: it synced; failed: it failed again (error: with the new reason). */
  outcome: 'pending' | 'cleared' | 'failed';
  error: ItemErrorView | null;
  /** Why the mailbox could not be woken at once, if it could not; else null. */
  note: string | null;
}

const POLL_MS = 250;

/**
 * What the item engine owes and what failed, per mailbox and entity, and retries of failed items on
 * request: a request row the engine reads at its next run (src/sync/items/itemSync.ts), and the
 * mailbox's items loop woken at once.
 */
export class ItemSyncVisibility {
  constructor(
    private readonly pool: Pool,
    private readonly crm: CrmItems,
    /** Wakes the mailbox's items loop (the itemsChanged signal); a mailbox without a running workflow takes the request at its next start. */
    private readonly wake: (mailboxId: string) => Promise<void>,
  ) {}

  async status(mailboxId: string): Promise<ItemSyncStatus> {
    const mailbox = await this.mailbox(mailboxId);
    const { rows: errors } = await this.pool.query(
      `SELECT entity, side, item_key, reason, occurred_at FROM item_sync_errors WHERE mailbox_id = $1 ORDER BY occurred_at DESC, id DESC`,
      [mailboxId],
    );
    const out = { lastRunError: mailbox.items_status === 'failure' ? mailbox.items_last_error : null } as ItemSyncStatus;
    for (const entity of ITEM_ENTITIES) {
      const [{ rows: links }, { rows: changed }, matching] = await Promise.all([
        this.pool.query(`SELECT crm_record_id AS "crmId", link_state AS state FROM item_links WHERE mailbox_id = $1 AND item_type = $2`, [mailboxId, entity]),
        this.changedSinceCursor(mailboxId, entity),
        mailbox.owner_user_id ? this.crm.matchingIds(mailbox.owner_user_id, entity) : Promise.resolve([]),
      ]);
      const mine = errors.filter((e) => e.entity === entity);
      const counts = itemCounts({
        matching,
        links,
        changedSinceCursor: changed.map((r) => r.record_id),
        failedCrmIds: mine.filter((e) => e.side === 'crm').map((e) => e.item_key),
      });
      out[entity] = { ...counts, failed: mine.length, lastError: mine[0] ? { message: mine[0].reason, at: mine[0].occurred_at } : null };
    }
    return out;
  }

  /**
   * For the dashboard: the `limit` mailboxes that sync items with the most failed items first (each
   * costs a few queries, and the dashboard refreshes every few seconds), how many sync items in all,
   * and the newest failed items of all.
   */
  async overview(limit = 50): Promise<{
    mailboxes: ({ id: string; emailAddress: string } & ItemSyncStatus)[];
    mailboxesInAll: number;
    failed: (ItemErrorView & { mailboxId: string; emailAddress: string })[];
  }> {
    const { rows } = await this.pool.query(
      `SELECT m.id, m.email_address, count(*) OVER ()::int AS in_all
         FROM mailboxes m LEFT JOIN (SELECT mailbox_id, count(*) AS n FROM item_sync_errors GROUP BY mailbox_id) e ON e.mailbox_id = m.id
        WHERE m.items_enabled
        ORDER BY coalesce(e.n, 0) DESC, m.items_status = 'failure' DESC, m.email_address
        LIMIT $1`,
      [limit],
    );
    const mailboxes = [];
    for (const r of rows) mailboxes.push({ id: r.id as string, emailAddress: r.email_address as string, ...(await this.status(r.id)) });
    const { rows: failing } = await this.pool.query(
      `SELECT e.mailbox_id, m.email_address, max(e.occurred_at) AS newest
         FROM item_sync_errors e JOIN mailboxes m ON m.id = e.mailbox_id GROUP BY e.mailbox_id, m.email_address ORDER BY newest DESC LIMIT $1`,
      [limit],
    );
    const failed = [];
    for (const f of failing) failed.push(...(await this.errors(f.mailbox_id)).map((e) => ({ mailboxId: f.mailbox_id as string, emailAddress: f.email_address as string, ...e })));
    failed.sort((a, b) => b.occurredAt.getTime() - a.occurredAt.getTime());
    return { mailboxes, mailboxesInAll: rows[0]?.in_all ?? 0, failed: failed.slice(0, limit) };
  }

  async errors(mailboxId: string, filter: { entity?: ItemEntity } = {}): Promise<ItemErrorView[]> {
    await this.mailbox(mailboxId);
    const { rows } = await this.pool.query(
      `SELECT e.entity, e.side, e.item_key AS "itemKey", e.container, e.reason, e.retry_action AS "whatToDo", e.attempts,
              e.occurred_at AS "occurredAt", r.requested_at AS "retryRequestedAt"
         FROM item_sync_errors e
         LEFT JOIN item_retry_requests r USING (mailbox_id, entity, side, item_key)
        WHERE e.mailbox_id = $1 AND ($2::text IS NULL OR e.entity = $2)
        ORDER BY e.occurred_at DESC, e.id DESC`,
      [mailboxId, filter.entity ?? null],
    );
    const labels = new Map<string, string>();
    for (const entity of ITEM_ENTITIES) {
      const ids = rows.filter((r) => r.entity === entity && r.side === 'crm' && UUID.test(r.itemKey)).map((r) => r.itemKey as string);
      if (ids.length === 0) continue;
      for (const record of await this.crm.read(entity, ids)) {
        const r = record as unknown as { id: string; fullName?: string; subject?: string };
        labels.set(r.id, r.fullName ?? r.subject ?? r.id);
      }
    }
    return rows.map((r) => ({
      entity: r.entity,
      side: r.side,
      itemKey: r.itemKey,
      label: r.side === 'crm' ? (labels.get(r.itemKey) ?? null) : null,
      container: r.container,
      reason: r.reason,
      whatToDo: `${r.whatToDo}, or retry it now`,
      attempts: r.attempts,
      occurredAt: r.occurredAt,
      retryRequestedAt: r.retryRequestedAt,
    }));
  }

  /**
   * Asks the mailbox to try a failed item again at once; with `waitMs`, waits that long for the run
   * that takes the request and answers how it went.
   */
  async retry(mailboxId: string, input: z.input<typeof ItemRetryInput>, waitMs = 0): Promise<ItemRetryResult> {
    const item = ItemRetryInput.parse(input);
    const mailbox = await this.mailbox(mailboxId);
    const known = await this.pool.query(`SELECT 1 FROM item_sync_errors WHERE mailbox_id = $1 AND entity = $2 AND side = $3 AND item_key = $4`, [
      mailboxId,
      item.entity,
      item.side,
      item.itemKey,
    ]);
    if (known.rowCount === 0) {
      throw new AdminError(`Mailbox ${mailboxId} has no failed ${item.entity} ${item.itemKey} on the ${item.side} side: nothing to retry`, 404, { ...item });
    }
    if (!mailbox.items_enabled || mailbox.awaiting_approval) {
      throw new ConflictError(
        `Contacts, appointments and tasks do not sync for mailbox ${mailboxId} now (${mailbox.awaiting_approval ? 'its address awaits approval' : 'the items direction is disabled'}): ` +
          'run Test & Enable first; its failed items are retried with the first run',
        { reason: mailbox.awaiting_approval ? 'awaiting_approval' : 'items_disabled' },
      );
    }
    const { rows } = await this.pool.query(
      `INSERT INTO item_retry_requests (mailbox_id, entity, side, item_key) VALUES ($1, $2, $3, $4)
       ON CONFLICT (mailbox_id, entity, side, item_key) DO UPDATE SET request_no = excluded.request_no, requested_at = excluded.requested_at
       RETURNING request_no::text, requested_at`,
      [mailboxId, item.entity, item.side, item.itemKey],
    );
    const { request_no: requestNo, requested_at: requestedAt } = rows[0];
    // The request is stored: a workflow that cannot be told now takes it at its next run.
    const wakeError = await this.wake(mailboxId).then(
      () => null,
      (err: Error) => `The mailbox's workflow could not be told (${err.message}): the retry runs at its next cycle`,
    );
    const deadline = Date.now() + waitMs;
    let waiting = await this.stillRequested(mailboxId, item, requestNo);
    while (waiting && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, deadline - Date.now())));
      waiting = await this.stillRequested(mailboxId, item, requestNo);
    }
    const error = (await this.errors(mailboxId, { entity: item.entity })).find((e) => e.side === item.side && e.itemKey === item.itemKey) ?? null;
    return { mailboxId, ...item, requestedAt, outcome: waiting ? 'pending' : error ? 'failed' : 'cleared', error, note: wakeError };
  }

  private async stillRequested(mailboxId: string, item: { entity: ItemEntity; side: ItemSide; itemKey: string }, requestNo: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `SELECT 1 FROM item_retry_requests WHERE mailbox_id = $1 AND entity = $2 AND side = $3 AND item_key = $4 AND request_no = $5`,
      [mailboxId, item.entity, item.side, item.itemKey, requestNo],
    );
    return rowCount !== 0;
  }

  /** Linked records changed in the CRM past the mailbox's cursor for the entity, by anyone but the mailbox's own sync. */
  private async changedSinceCursor(mailboxId: string, entity: ItemEntity) {
    const { rows } = await this.pool.query(`SELECT cursor #>> '{}' AS cursor FROM item_cursors WHERE mailbox_id = $1 AND scope = $2`, [
      mailboxId,
      `${CRM_SCOPE}:${entity}`,
    ]);
    const cursor = rows[0]?.cursor as string | undefined;
    // Before the first run every covered record counts as owed already.
    if (!cursor) return { rows: [] as { record_id: string }[] };
    const [transactionId, position] = cursor.split(':');
    return this.pool.query<{ record_id: string }>(
      `SELECT DISTINCT c.record_id::text FROM crm_change_log c
         JOIN item_links l ON l.mailbox_id = $1 AND l.item_type = $2 AND l.crm_record_id = c.record_id AND l.link_state <> 'untracked'
        WHERE c.entity = $2 AND (c.transaction_id, c.position) > ($3::xid8, $4::bigint) AND c.origin <> $5`,
      [mailboxId, entity, transactionId, position, mailboxOrigin(mailboxId)],
    );
  }

  private async mailbox(mailboxId: string) {
    const { rows } = await this.pool.query(
      `SELECT m.owner_user_id, m.items_enabled, m.items_status, m.items_last_error, NOT m.email_approved AND o.require_email_approval AS awaiting_approval
         FROM mailboxes m CROSS JOIN organization_settings o WHERE m.id = $1`,
      [mailboxId],
    );
    if (!rows[0]) throw new NotFoundError('Mailbox', mailboxId);
    return rows[0];
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
