import type { Client as TemporalClient } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Logger } from '../logger';
import { describeDatabaseError } from '../policy/databaseAvailability';
import { mailboxWorkflowId } from '../temporal/names';
import { outgoingPendingSignal } from '../../workflows/mailboxSync';
import { NotificationSession } from './notificationSession';

// The channel the email_activities trigger notifies with the id of an email queued for sending.
const CHANNEL = 'email_pending_send';
// Notifications are gathered this long, so a burst of queued emails signals each mailbox once (the
// notifications of one transaction arrive together, at its commit).
const FLUSH_MS = 10;
const SIGNALS_AT_ONCE = 50;

/**
 * Signals a mailbox's workflow when its owner's email is queued in the database by anyone (the
 * CRM inserting rows itself included), so it is sent within seconds instead of at the next sweep.
 * Survives database restarts: it listens again, and then signals every mailbox with queued mail.
 */
export class PendingSendListener {
  private readonly session: NotificationSession;
  private readonly queued = new Set<string>();
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(
    databaseUrl: string,
    private readonly pool: Pool,
    private readonly temporal: TemporalClient,
    private readonly log: Logger,
  ) {
    this.session = new NotificationSession({
      databaseUrl,
      channel: CHANNEL,
      name: 'Queued-email listener',
      log,
      onNotification: (emailId) => this.enqueue(emailId),
      // Anything queued while nobody listened.
      onListening: () =>
        this.signalMailboxes(
          `SELECT DISTINCT m.id FROM email_activities e JOIN mailboxes m ON (e.owner_user_id = m.owner_user_id OR e.owner_queue_id = m.owner_queue_id)
            WHERE e.status = 'pending_send'`,
          [],
        ),
    });
  }

  async start(): Promise<void> {
    await this.session.start();
  }

  async stop(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await this.session.stop();
    await this.temporal.connection.close().catch(() => undefined);
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
    // Several at once: the last mailbox of a burst does not wait for every other's round trip.
    for (let i = 0; i < rows.length; i += SIGNALS_AT_ONCE) {
      await Promise.all(
        rows.slice(i, i + SIGNALS_AT_ONCE).map(({ id }) =>
          this.temporal.workflow
            .getHandle(mailboxWorkflowId(id))
            .signal(outgoingPendingSignal)
            .catch((err: Error) => {
              // A mailbox without a running workflow sends when it starts.
              if (err.name !== 'WorkflowNotFoundError') this.log.warn({ mailboxId: id, err: err.message }, 'Could not signal a mailbox of a queued email');
            }),
        ),
      );
    }
  }
}
