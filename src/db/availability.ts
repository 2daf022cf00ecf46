import { Client } from 'pg';
import type { Logger } from '../logger';
import { databaseRetryDelayMs, describeDatabaseError, isDatabaseUnavailable, RAISED_BY_DATABASE } from '../policy/databaseAvailability';

/** Marks an error as the database's, so that a socket code it shares with a mail server is read right. */
export function markDatabaseError(err: unknown): unknown {
  if (typeof err !== 'object' || err === null) return Object.assign(new Error(String(err)), { raisedBy: RAISED_BY_DATABASE });
  try {
    Object.assign(err, { raisedBy: RAISED_BY_DATABASE });
  } catch {
    /* a frozen error keeps what it says */
  }
  return err;
}

/**
 * `target` (a store: an object whose methods only talk to the database) with every error its
 * methods throw or reject with marked as the database's.
 */
export function markingDatabaseErrors<T extends object>(target: T): T {
  return new Proxy(target, {
    get(obj, prop) {
      const value: unknown = Reflect.get(obj, prop, obj);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        try {
          const result: unknown = value.apply(obj, args);
          return result instanceof Promise
            ? result.catch((err: unknown) => {
                throw markDatabaseError(err);
              })
            : result;
        } catch (err) {
          throw markDatabaseError(err);
        }
      };
    },
  });
}

/** `host:port` of a connection string, for messages (never the credentials). */
export function databaseEndpoint(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return `${url.hostname || url.searchParams.get('host') || 'localhost'}:${url.port || '5432'}`;
  } catch {
    return 'the configured database';
  }
}

// A server that accepts the connection but never answers counts as down after this long.
const CONNECT_TIMEOUT_MS = 5000;

/**
 * Returns once the database answers. While it is unreachable (not started yet, restarting,
 * failing over) it logs one line per attempt, with where and why, and tries again, backing off
 * to every 5 s. An answer that is not an outage (wrong password, no such database) is thrown at
 * once: waiting would not fix it.
 */
export async function waitForDatabase(databaseUrl: string, log: Pick<Logger, 'warn' | 'info'>): Promise<void> {
  const where = databaseEndpoint(databaseUrl);
  for (let attempt = 1; ; attempt++) {
    const waitMs = databaseRetryDelayMs(attempt);
    const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    // A session that fails while connecting rejects connect() with the same error.
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      if (attempt > 1) log.info(`The database at ${where} answers; starting`);
      return;
    } catch (err) {
      if (!isDatabaseUnavailable(markDatabaseError(err))) throw err;
      log.warn(`Waiting for the database at ${where} (attempt ${attempt}: ${describeDatabaseError(err)}); next attempt in ${waitMs / 1000} s`);
    } finally {
      await client.end().catch(() => undefined);
    }
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}
