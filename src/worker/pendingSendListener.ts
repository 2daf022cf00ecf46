import type { Client as TemporalClient } from '@temporalio/client';
import { Client, type Pool } from 'pg';
import type { Logger } from '../logger';
import { describeDatabaseError } from '../policy/databaseAvailability';
import { mailboxWorkflowId } from '../temporal/names';
import { outgoingPendingSignal } from '../../workflows/mailboxSync';

// The channel the email_activities trigger notifies with the id of an email queued for sending.
const CHANNEL = 'email_pending_send';
// Notifications are gathered this long, so a burst of queued emails signals each mailbox once.
const FLUSH_MS = 100;
const RECONNECT_MAX_MS = 30_000;

/**
 * Signals a mailbox's workflow when its owner's email is queued in the database by anyone (the
 * CRM inserting rows itself included), so it is sent within seconds instead of at the next sweep.
 * Survives database restarts: it listens again, and then signals every mailbox with queued mail.
 */
export class PendingSendListener {
  private session: Client | null = null;
  private readonly queued = new Set<string>();
  private flushTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectMs = 1000;
  private stopped = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly pool: Pool,
    private readonly temporal: TemporalClient,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.listen();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.session?.end().catch(() => undefined);
    this.session = null;
    await this.temporal.connection.close().catch(() => undefined);
  }

  private async listen(): Promise<void> {
    const session = new Client({ connectionString: this.databaseUrl, application_name: 'crm-sync pending-send listener' });
    let dead = false;
    const onLost = (err: unknown) => {
      if (dead) return;
      dead = true;
      this.lost(session, err);
    };
    session.on('error', onLost);
    session.on('end', () => onLost(new Error('the session ended')));
    session.on('notification', (n) => {
      if (n.payload) this.enqueue(n.payload);
    });
    try {
      await session.connect();
      await session.query(`LISTEN ${CHANNEL}`);
      this.session = session;
      this.reconnectMs = 1000;
      // Anything queued while nobody listened.
      await this.signalMailboxes(
        `SELECT DISTINCT m.id FROM email_activities e JOIN mailboxes m ON (e.owner_user_id = m.owner_user_id OR e.owner_queue_id = m.owner_queue_id)
          WHERE e.status = 'pending_send'`,
        [],
      );
    } catch (err) {
      onLost(err);
    }
  }

  private lost(session: Client, err: unknown): void {
    if (this.stopped) return;
    this.session = null;
    session.end().catch(() => undefined);
    this.log.warn(`Queued-email listener lost its database session (${describeDatabaseError(err)}); listening again in ${this.reconnectMs} ms`);
    if (this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.listen();
    }, this.reconnectMs);
    this.reconnectMs = Math.min(this.reconnectMs * 2, RECONNECT_MAX_MS);
  }

  private enqueue(emailId: string): void {
    this.queued.add(emailId);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      const ids = [...this.queued];
      this.queued.clear();
      this.signalMailboxes(
        `SELECT DISTINCT m.id FROM email_activities e JOIN mailboxes m ON (e.owner_user_id = m.owner_user_id OR e.owner_queue_id = m.owner_queue_id)
          WHERE e.id = ANY($1::uuid[])`,
        [ids],
      ).catch((err: unknown) => this.log.warn(`Could not signal mailboxes of queued emails (${describeDatabaseError(err)}); their sweep sends them`));
    }, FLUSH_MS);
  }

  private async signalMailboxes(sql: string, params: unknown[]): Promise<void> {
    const { rows } = await this.pool.query<{ id: string }>(sql, params);
    for (const { id } of rows) {
      await this.temporal.workflow
        .getHandle(mailboxWorkflowId(id))
        .signal(outgoingPendingSignal)
        .catch((err: Error) => {
          // A mailbox without a running workflow sends when it starts.
          if (err.name !== 'WorkflowNotFoundError') this.log.warn({ mailboxId: id, err: err.message }, 'Could not signal a mailbox of a queued email');
        });
    }
  }
}
