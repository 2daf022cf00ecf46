import { NativeConnection } from '@temporalio/worker';
import { Connection } from '@temporalio/client';
import { loadConfig } from '../config';
import { createPool } from '../db/pool';
import { waitForDatabase } from '../db/availability';
import { verifySchema } from '../db/migrate';
import { createLogger } from '../logger';
import { loadKeySpec } from '../secrets/secretBox';
import { registerSearchAttributes } from '../temporal/registerSearchAttributes';
import { startHealthServer } from './health';
import { installSdkLogging, workerSetFor } from './workers';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  installSdkLogging(log);
  // Started during a database outage (or before the database, in a deployment), it waits.
  await waitForDatabase(config.databaseUrl, log);
  await verifySchema(config.databaseUrl);
  const pool = createPool(config.databaseUrl, undefined, log);
  const keySpec = loadKeySpec(config.secrets);

  const client = await Connection.connect({ address: config.temporal.address });
  await registerSearchAttributes(client, config.temporal.namespace);
  await client.close();

  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const workers = workerSetFor(config, { connection, pool, keySpec, log });
  await workers.start();
  const health = process.env.HEALTH_PORT ? startHealthServer(Number(process.env.HEALTH_PORT), () => workers.running) : undefined;
  log.info({ temporal: config.temporal.address, namespace: config.temporal.namespace }, 'Worker running');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'Shutting down: finishing running activities');
    health?.close();
    await workers.shutdown();
    await connection.close();
    await pool.end();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
