import type { Pool } from 'pg';
import type { Logger } from '../logger';
import { describeDatabaseError } from '../policy/databaseAvailability';
import { NotificationSession } from './notificationSession';

// The channel the change-log triggers notify with "<position>:<entity>:<record id>".
export const ITEM_CHANGE_CHANNEL = 'crm_item_changes';
// Notifications are gathered this long, so a burst of changes wakes each mailbox once.
const FLUSH_MS = 100;
// How often changes held back by an older open transaction are looked at again.
const HELD_BACK_RECHECK_MS = 500;

/** Wakes mailboxes: the engine plugs its workflow signal in. */
export type WakeMailboxes = (mailboxIds: string[]) => Promise<void>;

/**
 * Hears every change to contacts, appointments and tasks the moment its transaction commits (whoever
 * wrote it: the API, sync, the CRM itself) and calls `wake` with the mailboxes it may concern
 * (crm_change_mailboxes: owners before and after, organizer and attendees who have mailboxes), so they
 * sync within seconds instead of at their next poll. Survives database restarts: it listens again and
 * wakes the mailboxes of every change made while it was not listening.
 *
 * A change is readable by sync only once every transaction older than its own has ended (the change
 * log's horizon, src/crm/pgCrmItems.ts). One held back by an older open transaction, which need not
 * touch the CRM and so never notifies, is kept and woken for as soon as it is readable: a wake before
 * then would find nothing, and none would come after.
 */
export class ItemChangeListener {
  private readonly session: NotificationSession;
  private readonly positions = new Set<number>();
  private flushTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** The last change heard of; after a lost session, those past it were missed. */
  private lastPosition: number | null = null;

  constructor(
    databaseUrl: string,
    private readonly pool: Pool,
    private readonly wake: WakeMailboxes,
    private readonly log: Logger,
  ) {
    this.session = new NotificationSession({
      databaseUrl,
      channel: ITEM_CHANGE_CHANNEL,
      name: 'Item change listener',
      log,
      onNotification: (payload) => {
        const position = Number(payload.split(':')[0]);
        if (Number.isSafeInteger(position)) this.enqueue(position);
      },
      onListening: () => this.catchUp(),
    });
  }

  async start(): Promise<void> {
    await this.session.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await this.session.stop();
  }

  /** What changed while nobody listened (nothing before the first session: sync's own cycle covers it). */
  private async catchUp(): Promise<void> {
    if (this.lastPosition === null) {
      const { rows } = await this.pool.query(`SELECT coalesce(max(position), 0) AS p FROM crm_change_log`);
      this.lastPosition = Number(rows[0].p);
      return;
    }
    const { rows } = await this.pool.query(`SELECT position FROM crm_change_log WHERE position > $1`, [this.lastPosition]);
    for (const r of rows) this.enqueue(Number(r.position));
  }

  private enqueue(position: number): void {
    this.positions.add(position);
    this.lastPosition = Math.max(this.lastPosition ?? 0, position);
    this.scheduleFlush(FLUSH_MS);
  }

  private scheduleFlush(ms: number): void {
    if (this.stopped) return;
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      void this.flush();
    }, ms);
  }

  private async flush(): Promise<void> {
    const positions = [...this.positions];
    this.positions.clear();
    try {
      const { rows: found } = await this.pool.query<{ position: string; readable: boolean }>(
        `SELECT position, transaction_id < pg_snapshot_xmin(pg_current_snapshot()) AS readable FROM crm_change_log WHERE position = ANY($1::bigint[])`,
        [positions],
      );
      const ready = found.filter((r) => r.readable).map((r) => Number(r.position));
      const held = found.filter((r) => !r.readable);
      for (const r of held) this.positions.add(Number(r.position));
      if (held.length > 0) this.scheduleFlush(HELD_BACK_RECHECK_MS);
      if (ready.length === 0) return;
      const { rows } = await this.pool.query<{ mailbox_id: string }>(`SELECT mailbox_id FROM crm_change_mailboxes($1::bigint[]) ORDER BY mailbox_id`, [ready]);
      if (rows.length > 0) await this.wake(rows.map((r) => r.mailbox_id));
    } catch (err) {
      this.log.warn(`Could not wake the mailboxes of CRM item changes (${describeDatabaseError(err)}); their next cycle syncs them`);
    }
  }
}
