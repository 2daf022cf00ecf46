import path from 'node:path';
import { readdir } from 'node:fs/promises';
import { runner } from 'node-pg-migrate';
import { Client } from 'pg';
import { projectRoot } from '../projectRoot';

export const MIGRATIONS_DIR = path.join(projectRoot(), 'migrations');
const MIGRATIONS_TABLE = 'pgmigrations';

/** Applies every pending migration. */
export async function migrateUp(databaseUrl: string, log: (msg: string) => void = () => undefined): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: MIGRATIONS_TABLE,
    checkOrder: true,
    singleTransaction: true,
    log,
    logger: { debug: () => undefined, info: log, warn: log, error: log },
  });
  return applied.map((m) => m.name);
}

/**
 * Start-up check: the database must carry exactly the migrations this build ships,
 * so a worker never runs against a schema it does not know.
 */
export async function verifySchema(databaseUrl: string): Promise<void> {
  const expected = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, '')).sort();
  const client = new Client({ connectionString: databaseUrl });
  // A session lost mid-check rejects the query in flight with the same error.
  client.on('error', () => undefined);
  await client.connect();
  try {
    const exists = await client.query(`SELECT to_regclass($1) AS t`, [MIGRATIONS_TABLE]);
    const applied: string[] = exists.rows[0].t
      ? (await client.query(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY run_on, id`)).rows.map((r) => r.name)
      : [];
    const missing = expected.filter((m) => !applied.includes(m));
    const unknown = applied.filter((m) => !expected.includes(m));
    if (missing.length > 0) {
      throw new Error(`Database schema is behind this build (missing migrations: ${missing.join(', ')}). Run: npm run migrate`);
    }
    if (unknown.length > 0) {
      throw new Error(`Database schema is newer than this build (unknown migrations: ${unknown.join(', ')}). Deploy a newer build.`);
    }
  } finally {
    await client.end();
  }
}
