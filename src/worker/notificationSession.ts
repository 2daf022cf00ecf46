import { Client } from 'pg';
import type { Logger } from '../logger';
import { describeDatabaseError } from '../policy/databaseAvailability';

const RECONNECT_MAX_MS = 30_000;

export interface NotificationSessionOptions {
  databaseUrl: string;
  channel: string;
  /** Who listens, for the session's application name and the log ("Item change listener"). */
  name: string;
  log: Logger;
  onNotification: (payload: string) => void;
  /** Called each time the LISTEN is in place, the first time and after every lost session: catch up on what was missed. */
  onListening: () => Promise<void>;
}

/**
 * A LISTEN on one channel that survives database restarts: a lost session is replaced, backing off
 * from 1 s to 30 s, and each new one calls `onListening` so its owner can catch up.
 */
export class NotificationSession {
  private session: Client | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectMs = 1000;
  private stopped = false;

  constructor(private readonly options: NotificationSessionOptions) {}

  async start(): Promise<void> {
    await this.listen();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.session?.end().catch(() => undefined);
    this.session = null;
  }

  private async listen(): Promise<void> {
    const { databaseUrl, channel, name, onNotification, onListening } = this.options;
    const session = new Client({ connectionString: databaseUrl, application_name: `crm-sync ${name.toLowerCase()}` });
    let dead = false;
    const onLost = (err: unknown) => {
      if (dead) return;
      dead = true;
      this.lost(session, err);
    };
    session.on('error', onLost);
    session.on('end', () => onLost(new Error('the session ended')));
    session.on('notification', (n) => {
      if (n.payload) onNotification(n.payload);
    });
    try {
      await session.connect();
      await session.query(`LISTEN ${channel}`);
      this.session = session;
      this.reconnectMs = 1000;
      await onListening();
    } catch (err) {
      onLost(err);
    }
  }

  private lost(session: Client, err: unknown): void {
    if (this.stopped) return;
    this.session = null;
    session.end().catch(() => undefined);
    this.options.log.warn(`${this.options.name} lost its database session (${describeDatabaseError(err)}); listening again in ${this.reconnectMs} ms`);
    if (this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.listen();
    }, this.reconnectMs);
    this.reconnectMs = Math.min(this.reconnectMs * 2, RECONNECT_MAX_MS);
  }
}
