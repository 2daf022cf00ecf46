import { createHash } from 'node:crypto';
import { Client, type Notification } from 'pg';
import { markDatabaseError } from '../db/availability';
import { createLogger, type Logger } from '../logger';
import { describeDatabaseError } from '../policy/databaseAvailability';

/** The slot held while a connection to the mail server is open. */
export interface ConnectionLease {
  slot: number;
}

export interface AcquireOptions {
  /** Called while waiting, so the activity keeps heartbeating. */
  onWait?: () => void;
  signal?: AbortSignal;
  /** Longest pause between attempts while every slot is taken. */
  maxPollMs?: number;
}

interface HeldSlot {
  slot: number;
  release(): Promise<void>;
}

/** The first advisory-lock key of a profile's slots (the second is the slot number). */
export function slotLockKey(profileId: string): number {
  return createHash('sha256').update(`mail-server-slot:${profileId}`).digest().readInt32BE(0);
}

// Releases announce themselves here, so a waiter takes a freed slot at once instead of at its next poll.
const RELEASE_CHANNEL = 'crm_sync_connection_slot_freed';

/** How the slot sessions show in pg_stat_activity. */
export const SLOT_SESSION_NAME = 'crm-sync connection slot';

// Sessions kept for the next lease, each for a while: opening one starts a PostgreSQL backend.
const IDLE_SESSIONS_MAX = 4;
const IDLE_SESSION_MS = 10_000;

/** A database session that takes slots: one lease at a time, kept between leases while idle. */
interface SlotSession {
  client: Client;
  /** The session ended or failed: never used again. */
  broken: boolean;
  /** Told of the failure while a lease holds the session. */
  onLost?: (err: Error) => void;
  idleTimer?: NodeJS.Timeout;
}

/**
 * The mail server's connection cap, held across every worker process: a connection to a
 * server needs one of its `cap` slots, and a slot is a PostgreSQL session advisory lock. A
 * worker that dies loses its database sessions and with them its slots, so nothing leaks. A
 * lease has a database session of its own, apart from the pool the sync writes through, so
 * waiting for a slot can never starve the writes of those holding one; a released session,
 * holding no lock, serves the next lease.
 */
export class ConnectionSlots {
  private readonly idle: SlotSession[] = [];
  private closed = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly log: Pick<Logger, 'warn'> = createLogger(),
  ) {}

  /**
   * Runs `use` holding one of the profile's `cap` slots, waiting for one if all are taken. The
   * slot is released when `use` settles, whatever it throws. A failure to take one (the database
   * cannot be reached) rejects with the database's error, marked as such.
   */
  async withSlot<T>(profileId: string, cap: number, opts: AcquireOptions, use: (lease: ConnectionLease) => Promise<T>): Promise<T> {
    const held = await this.acquire(profileId, cap, opts);
    try {
      return await use({ slot: held.slot });
    } finally {
      await held.release();
    }
  }

  /** Ends the idle sessions (a worker shutting down); a lease still held ends its session when released. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.idle.splice(0).map((s) => this.end(s)));
  }

  private async acquire(profileId: string, cap: number, opts: AcquireOptions): Promise<HeldSlot> {
    // Two int4 advisory-lock keys: the profile, and the slot within it.
    const key = slotLockKey(profileId);
    // Start at a random slot so waiting workers do not all contend for slot 0.
    const first = Math.floor(Math.random() * cap);
    const tryAll = async (session: SlotSession): Promise<number | null> => {
      // Every slot in one round trip (migrations/1764320000000_connection-slot-function.sql).
      const { rows } = await session.client.query({ name: 'try-connection-slot', text: 'SELECT try_connection_slot($1, $2, $3) AS slot', values: [key, cap, first] });
      return rows[0].slot;
    };
    let session = this.takeIdle();
    let slot: number | null;
    try {
      try {
        slot = session ? await tryAll(session) : null;
      } catch {
        // The kept session died unnoticed (the database restarted): a new one decides.
        if (session) await this.end(session);
        session = undefined;
        slot = null;
      }
      session ??= await this.open();
      slot ??= await tryAll(session);
      if (slot === null) slot = await this.waitForSlot(session, key, () => tryAll(session!), opts);
    } catch (err) {
      if (session) await this.end(session);
      throw opts.signal?.aborted && err === opts.signal.reason ? err : markDatabaseError(err);
    }
    return this.held(session, key, slot, profileId);
  }

  /** Tries again at each release announced, and at growing pauses, until a slot is taken. */
  private async waitForSlot(session: SlotSession, key: number, tryAll: () => Promise<number | null>, opts: AcquireOptions): Promise<number> {
    const { client } = session;
    let pause = 10;
    let wake: (() => void) | undefined;
    // Set by a release seen while trying the slots, so that one is not slept through.
    let freed = false;
    const onNotification = (n: Notification) => {
      if (n.payload !== String(key)) return;
      freed = true;
      wake?.();
    };
    client.on('notification', onNotification);
    try {
      // Listening before the next try, so a slot freed after the last one is announced, not missed.
      await client.query(`LISTEN ${RELEASE_CHANNEL}`);
      for (;;) {
        freed = false;
        const slot = await tryAll();
        if (slot !== null) {
          await client.query(`UNLISTEN ${RELEASE_CHANNEL}`);
          return slot;
        }
        if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('Cancelled while waiting for a connection slot');
        opts.onWait?.();
        if (freed) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pause);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
        pause = Math.min(pause * 2, opts.maxPollMs ?? 1000);
      }
    } finally {
      client.off('notification', onNotification);
    }
  }

  private async open(): Promise<SlotSession> {
    const session: SlotSession = { client: new Client({ connectionString: this.databaseUrl, application_name: SLOT_SESSION_NAME }), broken: false };
    // A lost session rejects the query in flight, which ends an acquire; a held slot is told.
    session.client.on('error', (err) => {
      if (session.broken) return;
      session.broken = true;
      session.onLost?.(err);
      this.dropIdle(session);
    });
    await session.client.connect();
    return session;
  }

  private takeIdle(): SlotSession | undefined {
    for (let s = this.idle.pop(); s; s = this.idle.pop()) {
      clearTimeout(s.idleTimer);
      if (!s.broken) return s;
    }
    return undefined;
  }

  private dropIdle(session: SlotSession): void {
    const i = this.idle.indexOf(session);
    if (i < 0) return;
    this.idle.splice(i, 1);
    clearTimeout(session.idleTimer);
    void this.end(session);
  }

  private keepIdle(session: SlotSession): void {
    if (this.closed || this.idle.length >= IDLE_SESSIONS_MAX) {
      void this.end(session);
      return;
    }
    session.idleTimer = setTimeout(() => this.dropIdle(session), IDLE_SESSION_MS);
    session.idleTimer.unref();
    this.idle.push(session);
  }

  private async end(session: SlotSession): Promise<void> {
    session.broken = true;
    // Ending the session frees any lock it holds, whatever state the session is in.
    await session.client.end().catch(() => undefined);
  }

  private held(session: SlotSession, key: number, slot: number, profileId: string): HeldSlot {
    let released = false;
    // The lock went with the session: the connection in use finishes, and the next one waits again.
    session.onLost = (err) => {
      if (released) return;
      this.log.warn(`Lost connection slot ${slot} of profile ${profileId}: its database session ended (${describeDatabaseError(err)})`);
    };
    return {
      slot,
      release: async () => {
        if (released) return;
        released = true;
        session.onLost = undefined;
        try {
          const { rows } = await session.client.query(`SELECT pg_advisory_unlock($1, $2) AS unlocked, pg_notify('${RELEASE_CHANNEL}', $1::text)`, [key, slot]);
          if (rows[0].unlocked === true && !session.broken) {
            this.keepIdle(session);
            return;
          }
        } catch {
          // The session is gone, and its lock with it.
        }
        await this.end(session);
      },
    };
  }
}
