import { createHash } from 'node:crypto';
import { Client } from 'pg';
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

/**
 * The mail server's connection cap, held across every worker process: a connection to a
 * server needs one of its `cap` slots, and a slot is a PostgreSQL session advisory lock. A
 * worker that dies loses its database session and with it its slots, so nothing leaks. Each
 * lease has its own database session, apart from the pool the sync writes through, so waiting
 * for a slot can never starve the writes of those holding one.
 */
export class ConnectionSlots {
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

  private async acquire(profileId: string, cap: number, opts: AcquireOptions): Promise<HeldSlot> {
    // Two int4 advisory-lock keys: the profile, and the slot within it.
    const key = slotLockKey(profileId);
    const client = new Client({ connectionString: this.databaseUrl, application_name: SLOT_SESSION_NAME });
    // While waiting, a lost session rejects the query in flight, which ends the wait below.
    client.on('error', () => undefined);
    let pause = 10;
    let wake: (() => void) | undefined;
    // Set by a release seen while trying the slots, so that one is not slept through.
    let freed = false;
    client.on('notification', (n) => {
      if (n.payload !== String(key)) return;
      freed = true;
      wake?.();
    });
    try {
      await client.connect();
      // Start at a random slot so waiting workers do not all contend for slot 0.
      const first = Math.floor(Math.random() * cap);
      // Every slot in one round trip (migrations/1764320000000_connection-slot-function.sql).
      const tryAll = async (): Promise<number | null> => {
        const { rows } = await client.query({ name: 'try-connection-slot', text: 'SELECT try_connection_slot($1, $2, $3) AS slot', values: [key, cap, first] });
        return rows[0].slot;
      };
      let listening = false;
      for (;;) {
        freed = false;
        const slot = await tryAll();
        if (slot !== null) {
          if (listening) await client.query(`UNLISTEN ${RELEASE_CHANNEL}`);
          return this.held(client, key, slot, profileId);
        }
        if (!listening) {
          // Listening before the next try, so a slot freed after this one is announced, not missed.
          await client.query(`LISTEN ${RELEASE_CHANNEL}`);
          listening = true;
          continue;
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
    } catch (err) {
      await client.end().catch(() => undefined);
      throw opts.signal?.aborted && err === opts.signal.reason ? err : markDatabaseError(err);
    }
  }

  private held(client: Client, key: number, slot: number, profileId: string): HeldSlot {
    let released = false;
    let lost = false;
    // The lock went with the session: the connection in use finishes, and the next one waits again.
    client.removeAllListeners('error');
    client.on('error', (err) => {
      if (released || lost) return;
      lost = true;
      this.log.warn(`Lost connection slot ${slot} of profile ${profileId}: its database session ended (${describeDatabaseError(err)})`);
    });
    return {
      slot,
      release: async () => {
        if (released) return;
        released = true;
        await client.query(`SELECT pg_advisory_unlock($1, $2), pg_notify('${RELEASE_CHANNEL}', $1::text)`, [key, slot]).catch(() => undefined);
        // Ending the session frees the lock in any case, whatever state the session is in.
        await client.end().catch(() => undefined);
      },
    };
  }
}
