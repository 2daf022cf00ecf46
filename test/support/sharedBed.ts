import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { Client } from 'pg';
import { migrateUp } from '../../src/db/migrate';
import { failureConverterPath } from '../../src/temporal/dataConverter';
import { startTemporalDevServer, type RunningDevServer } from '../../src/temporal/devServer';
import { adminDatabaseUrl, databaseUrlFor, freePort } from './env';

export interface SharedBed {
  runId: string;
  temporal: RunningDevServer;
  teardown(): Promise<void>;
}

const quiet = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};

/**
 * What every test file (and benchmark) shares: a Temporal dev server, a migrated template
 * database to copy, and the workflow bundle built once. Published through process.env, which
 * jest's test workers inherit.
 */
export async function startSharedBed(prefix: string): Promise<SharedBed> {
  const runId = `${prefix}_${process.pid}_${Date.now().toString(36)}`;
  const template = `${runId}_tpl`;
  const admin = new Client({ connectionString: adminDatabaseUrl() });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${adminDatabaseUrl()} (${(err as Error).message}); start it or set DATABASE_URL.`);
  }
  await admin.query(`CREATE DATABASE ${template}`);
  await admin.end();
  await migrateUp(databaseUrlFor(template));
  // The tests were written for users whose mail is all tracked: that is the test beds' default for
  // new users (the product's is replies_to_crm). test/tracking.test.ts sets the others itself.
  const db = new Client({ connectionString: databaseUrlFor(template) });
  await db.connect();
  await db.query(`UPDATE organization_settings SET default_tracking_option = 'all'`);
  await db.end();

  const temporal = await startTemporalDevServer({ port: await freePort() });
  const dir = mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, (await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), failureConverterPath, logger: quiet })).code);

  Object.assign(process.env, {
    TEST_RUN_ID: runId,
    TEST_TEMPLATE_DB: template,
    TEMPORAL_ADDRESS: temporal.address,
    WORKFLOW_BUNDLE_PATH: bundlePath,
  });

  return {
    runId,
    temporal,
    async teardown() {
      await temporal.stop();
      const db = new Client({ connectionString: adminDatabaseUrl() });
      await db.connect();
      const { rows } = await db.query(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`${runId}%`]);
      for (const { datname } of rows) await db.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      await db.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
