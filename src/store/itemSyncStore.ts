import type { Pool, PoolClient } from 'pg';
import { disableDirection } from './pgSyncStore';
import type { ItemEntity } from '../crm/itemFields';
import type { SourceCursor } from '../mail/mailSource';
import type { CalendarWindow } from '../policy/calendarWindow';
import type { DirectionOverride } from '../policy/fieldDirections';
import type { ConflictRule, DeleteRules, Values } from '../policy/itemMerge';

/** A transaction to write in (CrmItems.apply's `alongside`), or the store's own pool. */
export type Db = Pool | PoolClient;

/** A mail-server item linked to a CRM record, with what each side held at the last sync. */
export interface ItemLink {
  mailboxId: string;
  entity: ItemEntity;
  container: string;
  remoteId: string;
  crmId: string;
  changeKey: string;
  /** The record's synced fields at the last sync (null: linked, never merged). */
  crmSnapshot: Values | null;
  /** The item's fields at the last sync, as the provider carries them. */
  remoteSnapshot: Values | null;
  /**
   * tracked: entered the CRM by the tracking category; untracked: its category was removed (until it
   * returns), or its item was deleted in Exchange and the delete rule kept the record: neither side
   * syncs it, and the filters do not push its record back.
   */
  state: 'synced' | 'tracked' | 'untracked';
}

/** What the engine needs to know of a mailbox and of the organisation's settings. */
export interface ItemSyncSettings {
  mailboxId: string;
  emailAddress: string;
  ownerUserId: string | null;
  unlinkOnly: boolean;
  trackingCategory: string;
  conflictRule: ConflictRule;
  /** What a delete on one side does to the other's copy, per entity and direction. */
  deleteRules: DeleteRules;
  /** The calendar window read from the mail server (a provider with change tracking over a time range needs one). */
  calendarWindow: CalendarWindow;
  directionOverrides: DirectionOverride[];
}

export interface ItemSyncError {
  entity: ItemEntity;
  side: 'crm' | 'exchange';
  /** The remote id (side exchange) or the CRM id (side crm). */
  itemKey: string;
  container: string | null;
  reason: string;
  retryAction: string;
  attempts: number;
  occurredAt: Date;
}

/** A request to retry a failed item at the next run (item_retry_requests). */
export interface ItemRetryRequest {
  entity: ItemEntity;
  side: 'crm' | 'exchange';
  itemKey: string;
  requestedAt: Date;
  /** Renewed by every request of the item. */
  requestNo: string;
}

/** The scope a container's cursor is stored under. */
export const containerScope = (entity: ItemEntity, container: string) => `${entity}:${container}`;
/** The prefix of the CRM change-log cursors' scopes: one per entity, `crm:<entity>`. */
export const CRM_SCOPE = 'crm';

/**
 * The item engine's state: links, cursors, item errors. Every write takes the transaction to run in,
 * so a cursor moves with what it covers.
 */
export interface ItemSyncStore {
  settings(mailboxId: string): Promise<ItemSyncSettings | null>;
  links(mailboxId: string, entity: ItemEntity): Promise<ItemLink[]>;
  saveLink(link: ItemLink, db?: Db): Promise<void>;
  /** Drops the link (the item and the record stay). */
  unlink(mailboxId: string, entity: ItemEntity, crmId: string, db?: Db): Promise<void>;
  cursor(mailboxId: string, scope: string): Promise<SourceCursor | string | null>;
  saveCursor(mailboxId: string, scope: string, cursor: SourceCursor | string, db?: Db): Promise<void>;
  recordError(mailboxId: string, error: Omit<ItemSyncError, 'attempts' | 'occurredAt'>): Promise<void>;
  clearError(mailboxId: string, entity: ItemEntity, side: 'crm' | 'exchange', itemKey: string, db?: Db): Promise<void>;
  errors(mailboxId: string): Promise<ItemSyncError[]>;
  /** The entity's items someone asked to retry now (POST /mailboxes/:id/item-errors/retry). */
  retryRequests(mailboxId: string, entity: ItemEntity): Promise<ItemRetryRequest[]>;
  /** Drops the requests a run has taken; one made again since stays for the next run. */
  retried(mailboxId: string, requests: ItemRetryRequest[]): Promise<void>;
  /** An information alert for the mailbox's owner (conflicts resolved by the rule). */
  inform(mailboxId: string, ownerUserId: string | null, message: string): Promise<void>;
  /** The run's outcome on the mailbox row (items status and last-cycle figures). */
  recordRun(mailboxId: string, run: { ok: true; figures: { crmWrites: number; remoteWrites: number; failed: number }[] } | { ok: false; message: string }): Promise<void>;
  /** A permanent failure (a permission missing, the mailbox gone): item sync stops, with an alert saying what to do. */
  disableItems(mailboxId: string, reason: string): Promise<void>;
}

/** item_links keeps links of every kind; an item's folder is its entity and container. */
export class PgItemSyncStore implements ItemSyncStore {
  constructor(private readonly pool: Pool) {}

  async settings(mailboxId: string): Promise<ItemSyncSettings | null> {
    const { rows } = await this.pool.query(
      `SELECT m.id, m.email_address, m.owner_user_id, o.items_unlink_only, o.items_tracking_category, o.items_conflict_rule,
              o.items_calendar_days_back, o.items_calendar_days_ahead,
              json_build_object('contactFromCrm', o.items_delete_contact_from_crm, 'contactFromExchange', o.items_delete_contact_from_exchange,
                'appointmentFromCrm', o.items_delete_appointment_from_crm, 'appointmentFromExchange', o.items_delete_appointment_from_exchange,
                'taskFromCrm', o.items_delete_task_from_crm, 'taskFromExchange', o.items_delete_task_from_exchange) AS delete_rules,
              coalesce((SELECT json_agg(json_build_object('entity', d.entity, 'field', d.field, 'direction', d.direction)) FROM item_field_directions d), '[]') AS overrides
         FROM mailboxes m CROSS JOIN organization_settings o WHERE m.id = $1`,
      [mailboxId],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      mailboxId,
      emailAddress: r.email_address,
      ownerUserId: r.owner_user_id,
      unlinkOnly: r.items_unlink_only,
      trackingCategory: r.items_tracking_category,
      conflictRule: r.items_conflict_rule,
      deleteRules: r.delete_rules,
      calendarWindow: { daysBack: r.items_calendar_days_back, daysAhead: r.items_calendar_days_ahead },
      directionOverrides: r.overrides,
    };
  }

  async links(mailboxId: string, entity: ItemEntity): Promise<ItemLink[]> {
    const { rows } = await this.pool.query(
      `SELECT folder, remote_id, crm_record_id, change_key, crm_snapshot, remote_snapshot, link_state
         FROM item_links WHERE mailbox_id = $1 AND item_type = $2`,
      [mailboxId, entity],
    );
    const prefix = `${entity}:`.length;
    return rows.map((r) => ({
      mailboxId,
      entity,
      container: (r.folder as string).slice(prefix),
      remoteId: r.remote_id,
      crmId: r.crm_record_id,
      changeKey: r.change_key ?? '',
      crmSnapshot: r.crm_snapshot,
      remoteSnapshot: r.remote_snapshot,
      state: r.link_state,
    }));
  }

  async saveLink(link: ItemLink, db: Db = this.pool): Promise<void> {
    // A record moves to another item (re-created after a delete) or an item to another record: one link each.
    await db.query(
      `DELETE FROM item_links WHERE mailbox_id = $1 AND item_type = $2 AND crm_record_id = $3 AND NOT (folder = $4 AND remote_id = $5)`,
      [link.mailboxId, link.entity, link.crmId, containerScope(link.entity, link.container), link.remoteId],
    );
    await db.query(
      `INSERT INTO item_links (mailbox_id, folder, remote_id, item_type, crm_record_id, change_key, crm_snapshot, remote_snapshot, link_state, synced_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
       ON CONFLICT (mailbox_id, folder, remote_id) DO UPDATE
         SET crm_record_id = excluded.crm_record_id, change_key = excluded.change_key, crm_snapshot = excluded.crm_snapshot,
             remote_snapshot = excluded.remote_snapshot, link_state = excluded.link_state, synced_at = now()`,
      [
        link.mailboxId,
        containerScope(link.entity, link.container),
        link.remoteId,
        link.entity,
        link.crmId,
        link.changeKey,
        link.crmSnapshot === null ? null : JSON.stringify(link.crmSnapshot),
        link.remoteSnapshot === null ? null : JSON.stringify(link.remoteSnapshot),
        link.state,
      ],
    );
  }

  async unlink(mailboxId: string, entity: ItemEntity, crmId: string, db: Db = this.pool): Promise<void> {
    await db.query(`DELETE FROM item_links WHERE mailbox_id = $1 AND item_type = $2 AND crm_record_id = $3`, [mailboxId, entity, crmId]);
  }

  async cursor(mailboxId: string, scope: string): Promise<SourceCursor | string | null> {
    const { rows } = await this.pool.query(`SELECT cursor FROM item_cursors WHERE mailbox_id = $1 AND scope = $2`, [mailboxId, scope]);
    return rows[0]?.cursor ?? null;
  }

  async saveCursor(mailboxId: string, scope: string, cursor: SourceCursor | string, db: Db = this.pool): Promise<void> {
    await db.query(
      `INSERT INTO item_cursors (mailbox_id, scope, cursor) VALUES ($1, $2, $3)
       ON CONFLICT (mailbox_id, scope) DO UPDATE SET cursor = excluded.cursor, updated_at = now()`,
      [mailboxId, scope, JSON.stringify(cursor)],
    );
  }

  async recordError(mailboxId: string, e: Omit<ItemSyncError, 'attempts' | 'occurredAt'>): Promise<void> {
    await this.pool.query(
      `INSERT INTO item_sync_errors (mailbox_id, entity, side, item_key, container, reason, retry_action) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (mailbox_id, entity, side, item_key) DO UPDATE
         SET container = excluded.container, reason = excluded.reason, retry_action = excluded.retry_action, attempts = item_sync_errors.attempts + 1, occurred_at = now()`,
      [mailboxId, e.entity, e.side, e.itemKey, e.container, e.reason, e.retryAction],
    );
  }

  async clearError(mailboxId: string, entity: ItemEntity, side: 'crm' | 'exchange', itemKey: string, db: Db = this.pool): Promise<void> {
    await db.query(`DELETE FROM item_sync_errors WHERE mailbox_id = $1 AND entity = $2 AND side = $3 AND item_key = $4`, [mailboxId, entity, side, itemKey]);
  }

  async errors(mailboxId: string): Promise<ItemSyncError[]> {
    const { rows } = await this.pool.query(
      `SELECT entity, side, item_key AS "itemKey", container, reason, retry_action AS "retryAction", attempts, occurred_at AS "occurredAt"
         FROM item_sync_errors WHERE mailbox_id = $1 ORDER BY occurred_at DESC`,
      [mailboxId],
    );
    return rows;
  }

  async retryRequests(mailboxId: string, entity: ItemEntity): Promise<ItemRetryRequest[]> {
    const { rows } = await this.pool.query(
      `SELECT entity, side, item_key AS "itemKey", requested_at AS "requestedAt", request_no::text AS "requestNo" FROM item_retry_requests WHERE mailbox_id = $1 AND entity = $2 ORDER BY requested_at`,
      [mailboxId, entity],
    );
    return rows;
  }

  async retried(mailboxId: string, requests: ItemRetryRequest[]): Promise<void> {
    for (const r of requests) {
      await this.pool.query(
        `DELETE FROM item_retry_requests WHERE mailbox_id = $1 AND entity = $2 AND side = $3 AND item_key = $4 AND request_no = $5`,
        [mailboxId, r.entity, r.side, r.itemKey, r.requestNo],
      );
    }
  }

  async recordRun(mailboxId: string, run: { ok: true; figures: { crmWrites: number; remoteWrites: number; failed: number }[] } | { ok: false; message: string }): Promise<void> {
    if (run.ok) {
      const processed = run.figures.reduce((n, f) => n + f.crmWrites + f.remoteWrites, 0);
      const failed = run.figures.reduce((n, f) => n + f.failed, 0);
      await this.pool.query(
        `UPDATE mailboxes SET items_status = 'success', items_last_error = NULL, items_processed_last_cycle = $2, items_failed_last_cycle = $3, updated_at = now() WHERE id = $1`,
        [mailboxId, processed, failed],
      );
    } else {
      await this.pool.query(`UPDATE mailboxes SET items_status = 'failure', items_last_error = $2, updated_at = now() WHERE id = $1`, [mailboxId, run.message]);
    }
  }

  async disableItems(mailboxId: string, reason: string): Promise<void> {
    await disableDirection(
      this.pool,
      mailboxId,
      { name: 'items', conditionKey: 'items_failure' },
      reason,
      (address) =>
        `Appointments, contacts and tasks of ${address} are no longer synced: ${reason}. Nothing was lost; ` +
        'fix the cause (for Exchange Online, grant the app Contacts.ReadWrite, Calendars.ReadWrite and Tasks.ReadWrite.All), then run Test & Enable.',
    );
  }

  async inform(mailboxId: string, ownerUserId: string | null, message: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO alerts (level, scope, audiences, mailbox_id, user_id, message)
       VALUES ('information', 'mailbox', CASE WHEN $2::uuid IS NULL THEN ARRAY['admins'] ELSE ARRAY['mailbox_owner'] END, $1, $2, $3)`,
      [mailboxId, ownerUserId, message],
    );
  }
}
