import { Pool, types } from 'pg';
import { createLogger, type Logger } from '../logger';
import { describeDatabaseError } from '../policy/databaseAvailability';
import { databaseEndpoint } from './availability';

// BIGINT columns (counts, serials) fit in a JS number for this schema's sizes.
types.setTypeParser(types.builtins.INT8, (v) => Number(v));
// DATE columns (a contact's birthday) are calendar dates, not instants: kept as YYYY-MM-DD.
types.setTypeParser(types.builtins.DATE, (v) => v);

/**
 * A pool that outlives the database's restarts: a session that dies (the server shut down, a
 * failover, a network cut) is logged and dropped, never an unhandled 'error' that ends the
 * process, and the next query opens a new one. The queries in flight fail, with an error that
 * isDatabaseUnavailable recognises.
 */
export function createPool(databaseUrl: string, max = 10, log: Pick<Logger, 'warn'> = createLogger()): Pool {
  const pool = new Pool({ connectionString: databaseUrl, max });
  const where = databaseEndpoint(databaseUrl);
  // On every session, checked out or idle: a checked-out one has no listener of the pool's.
  pool.on('connect', (client) => {
    client.on('error', (err) => log.warn(`Lost a database session to ${where} (${describeDatabaseError(err)}); the next query opens a new one`));
  });
  // The pool's own report of a dead idle session, already logged by the session's listener above.
  pool.on('error', () => undefined);
  return pool;
}
