import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { ApiTokens } from '../admin/apiTokens';
import { MailboxService } from '../admin/mailboxService';
import { OutgoingEmailService } from '../admin/outgoingEmailService';
import { loadConfig } from '../config';
import { createItemServices } from '../admin/itemServices';
import { PgCrmRecords } from '../crm/crmRecords';
import { waitForDatabase } from '../db/availability';
import { createLogger } from '../logger';
import { verifySchema } from '../db/migrate';
import { createPool } from '../db/pool';
import { loadKeySpec, SecretBox } from '../secrets/secretBox';
import { createDataConverter } from '../temporal/dataConverter';
import { EncryptionCodec } from '../temporal/payloadCodec';
import { buildApiServer, DEFAULT_UI_ORIGIN } from './server';

/** `npm run api`: the admin HTTP API. Settings of its own, beside those of src/config.ts. */
const ApiEnv = z.object({
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  // Where Temporal UI runs: the browser origin allowed to call /codec/encode and /codec/decode.
  TEMPORAL_UI_ORIGIN: z.string().min(1).default(DEFAULT_UI_ORIGIN),
});

async function main(): Promise<void> {
  const config = loadConfig();
  const env = ApiEnv.safeParse(process.env);
  if (!env.success) {
    throw new Error(`Invalid configuration: ${env.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const { API_HOST: host, API_PORT: port, TEMPORAL_UI_ORIGIN: uiOrigin } = env.data;

  const log = createLogger(config.logLevel);
  // Started during a database outage (or before the database, in a deployment), it waits.
  await waitForDatabase(config.databaseUrl, log);
  await verifySchema(config.databaseUrl);
  const pool = createPool(config.databaseUrl, undefined, log);
  const keySpec = loadKeySpec(config.secrets);
  const connection = await Connection.connect({ address: config.temporal.address });
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: createDataConverter(keySpec) });
  const service = new MailboxService(pool, new SecretBox(keySpec), temporal, config.temporal.taskQueuePrefix);

  const crm = new PgCrmRecords(pool);
  const app = await buildApiServer({
    service,
    tokens: new ApiTokens(pool),
    crm,
    items: createItemServices(pool),
    outgoing: new OutgoingEmailService(pool, crm, temporal),
    codec: new EncryptionCodec(keySpec),
    uiOrigin,
    logger: true,
  });

  let closing = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (closing) {
      app.log.warn(`${signal} again: exiting at once`);
      process.exit(1);
    }
    closing = true;
    app.log.info(`${signal}: closing (in-flight requests finish first)`);
    try {
      await app.close();
      await pool.end();
      await connection.close();
      process.exit(0);
    } catch (err) {
      app.log.error({ err }, 'unclean shutdown');
      process.exit(1);
    }
  };
  // A second signal while closing exits at once.
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  await app.listen({ host, port });
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
