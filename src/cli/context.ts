import { Client, Connection } from '@temporalio/client';
import type { Pool } from 'pg';
import { ApiTokens } from '../admin/apiTokens';
import { createItemServices, type ItemServices } from '../admin/itemServices';
import { MailboxService } from '../admin/mailboxService';
import { OutgoingEmailService } from '../admin/outgoingEmailService';
import type { AppConfig } from '../config';
import { PgCrmRecords, type CrmRecords } from '../crm/crmRecords';
import { verifySchema } from '../db/migrate';
import { createPool } from '../db/pool';
import { loadKeySpec, SecretBox } from '../secrets/secretBox';
import { createDataConverter } from '../temporal/dataConverter';

/**
 * What commands use, made on first use: a command that needs only the database never connects
 * to Temporal, and `help` connects to nothing. `close` releases whatever was made.
 */
export class CliContext {
  private poolReady?: Promise<Pool>;
  private pool?: Pool;
  private connection?: Connection;

  constructor(readonly config: AppConfig) {}

  /** The database, once its schema is checked to be this build's. */
  db(): Promise<Pool> {
    this.poolReady ??= verifySchema(this.config.databaseUrl).then(() => (this.pool = createPool(this.config.databaseUrl, 2)));
    return this.poolReady;
  }

  async admin(): Promise<MailboxService> {
    const pool = await this.db();
    const keySpec = loadKeySpec(this.config.secrets);
    return new MailboxService(pool, new SecretBox(keySpec), this.temporal(keySpec), this.config.temporal.taskQueuePrefix);
  }

  async outgoing(): Promise<OutgoingEmailService> {
    const pool = await this.db();
    return new OutgoingEmailService(pool, new PgCrmRecords(pool), this.temporal(loadKeySpec(this.config.secrets)));
  }

  private temporal(keySpec: string): Client {
    // Lazy: listing users or profiles needs no Temporal, and connects to none.
    this.connection ??= Connection.lazy({ address: this.config.temporal.address });
    return new Client({ connection: this.connection, namespace: this.config.temporal.namespace, dataConverter: createDataConverter(keySpec) });
  }

  async tokens(): Promise<ApiTokens> {
    return new ApiTokens(await this.db());
  }

  async items(): Promise<ItemServices> {
    return createItemServices(await this.db());
  }

  async crm(): Promise<CrmRecords> {
    return new PgCrmRecords(await this.db());
  }

  async close(): Promise<void> {
    await this.poolReady?.catch(() => undefined);
    await this.pool?.end();
    await this.connection?.close();
  }
}
