/**
 * `npm start`: the whole product in one process, on embedded defaults.
 *
 *  1. the database: DATABASE_URL, else an embedded PostgreSQL in `<data>/postgres`, with the
 *     `crm_sync` database created and migrated;
 *  2. Temporal: TEMPORAL_ADDRESS, else a Temporal dev server with its UI, its state in
 *     `<data>/temporal.sqlite`; the UI decodes payloads through the admin API's codec routes
 *     (without a token, from loopback: see registerLocalUiCodecAccess);
 *  3. `<data>/env`, the settings that point the CLI at this stack;
 *  4. the sync workers (as `npm run worker`) and the admin API (as `npm run api`);
 *  5. an admin API token, created and printed on the first start, saved in `<data>/admin-token`.
 *
 * `<data>` is `.data` in the project, or CRM_SYNC_DATA_DIR. SIGINT (Ctrl-C) and SIGTERM stop it
 * all in reverse order: the API, the workers (running activities finish), Temporal, PostgreSQL.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Pool } from 'pg';
import { z } from 'zod';
import { ApiTokens } from '../admin/apiTokens';
import { MailboxService } from '../admin/mailboxService';
import { OutgoingEmailService } from '../admin/outgoingEmailService';
import { buildApiServer } from '../api/server';
import { loadConfig, type AppConfig } from '../config';
import { createItemServices } from '../admin/itemServices';
import { PgCrmRecords } from '../crm/crmRecords';
import { migrateUp, verifySchema } from '../db/migrate';
import { createPool } from '../db/pool';
import { createLogger, type Logger } from '../logger';
import { loadKeySpec, SecretBox } from '../secrets/secretBox';
import { createDataConverter } from '../temporal/dataConverter';
import { startTemporalDevServer } from '../temporal/devServer';
import { EncryptionCodec } from '../temporal/payloadCodec';
import { registerSearchAttributes } from '../temporal/registerSearchAttributes';
import { installSdkLogging, workerSetFor } from '../worker/workers';
import { startEmbeddedPostgres, stopLeftoverPostgres } from './embeddedPostgres';
import { localDataRoot, writeLocalEnv } from './localEnv';

const DATABASE_NAME = 'crm_sync';
/** Preferred ports; a free one is taken instead when one is in use (5433: beside a local PostgreSQL). */
const DEFAULT_PORTS = { api: 8080, temporal: 7233, temporalUi: 8233, postgres: 5433 };

const port = z.coerce.number().int().min(1).max(65535);
const StartEnv = z.object({
  DATABASE_URL: z.string().optional(),
  TEMPORAL_ADDRESS: z.string().optional(),
  API_HOST: z.string().default('127.0.0.1'),
  API_PORT: port.optional(),
  TEMPORAL_PORT: port.optional(),
  TEMPORAL_UI_PORT: port.optional(),
  TEMPORAL_UI_ORIGIN: z.string().optional(),
  // `off`: the local Temporal UI gets no codec endpoint, and so shows ciphertext.
  TEMPORAL_UI_CODEC: z.enum(['local', 'off']).default('local'),
  EMBEDDED_PG_PORT: port.optional(),
  EMBEDDED_PG_USER: z.string().optional(),
});
type StartEnv = z.infer<typeof StartEnv>;

interface Database {
  url: string;
  description: string;
}
interface Temporal {
  address: string;
  uiUrl: string | null;
  /** Origins of the dev server's UI that may call the codec without a token; empty when it is not set up for it. */
  localUiOrigins: string[];
  description: string;
}

/** The admin API's address, chosen before Temporal starts: the dev server's UI is told where the codec is. */
interface ApiAddress {
  host: string;
  port: number;
  url: string;
}

const isLoopbackHost = (host: string) => host === 'localhost' || host === '::1' || /^127\./.test(host);

// Output for people ---------------------------------------------------------------------

const say = (message: string) => process.stdout.write(`[start] ${message}\n`);

/** A path as short as it can be said: relative to the working folder when inside it. */
function shown(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

const masked = (url: string) => url.replace(/^(postgres(?:ql)?:\/\/[^:/@]+:)[^@]*@/, '$1***@');

// What has been started, to stop in reverse order ---------------------------------------

interface Part {
  name: string;
  stop: () => Promise<void>;
  /** Best effort, synchronous: for the process's exit path. */
  stopNow?: () => void;
}

class Parts {
  private readonly parts: Part[] = [];

  add(part: Part): void {
    this.parts.push(part);
  }

  async stopAll(): Promise<boolean> {
    let clean = true;
    while (this.parts.length > 0) {
      const part = this.parts.pop()!;
      try {
        await part.stop();
      } catch (err) {
        clean = false;
        process.stderr.write(`[start] stopping ${part.name} failed: ${(err as Error).message}\n`);
      }
    }
    return clean;
  }

  stopNow(): void {
    for (const part of [...this.parts].reverse()) {
      try {
        part.stopNow?.();
      } catch {
        /* exiting anyway */
      }
    }
  }
}

// Ports ---------------------------------------------------------------------------------

function portFree(host: string, candidate: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(candidate, host, () => server.close(() => resolve(true)));
  });
}

function anyFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port: p } = server.address() as net.AddressInfo;
      server.close(() => resolve(p));
    });
  });
}

const taken = new Set<number>();

/** The port set by `envName`, else `preferred` when free, else any free port. */
async function choosePort(envName: string, explicit: number | undefined, preferred: number, host = '127.0.0.1'): Promise<number> {
  let chosen: number;
  if (explicit !== undefined) {
    if (!(await portFree(host, explicit))) throw new Error(`${envName}=${explicit}, but that port is in use on ${host}.`);
    chosen = explicit;
  } else if (!taken.has(preferred) && (await portFree(host, preferred))) {
    chosen = preferred;
  } else {
    do chosen = await anyFreePort(host);
    while (taken.has(chosen));
  }
  taken.add(chosen);
  return chosen;
}

// The parts -----------------------------------------------------------------------------

async function startDatabase(env: StartEnv, dataRoot: string, parts: Parts): Promise<Database> {
  if (env.DATABASE_URL) {
    await verifySchema(env.DATABASE_URL);
    return { url: env.DATABASE_URL, description: `${masked(env.DATABASE_URL)} (DATABASE_URL)` };
  }
  const dataDir = path.join(dataRoot, 'postgres');
  await stopLeftoverPostgres(dataDir, say); // before choosing a port: it may hold the one we want
  const pgPort = await choosePort('EMBEDDED_PG_PORT', env.EMBEDDED_PG_PORT, DEFAULT_PORTS.postgres);
  const pg = await startEmbeddedPostgres({
    dataDir,
    port: pgPort,
    passwordFile: path.join(dataRoot, 'postgres-password'),
    logFile: path.join(dataRoot, 'postgres.log'),
    runAsUser: env.EMBEDDED_PG_USER,
    onProgress: say,
  });
  parts.add({ name: 'PostgreSQL', stop: () => pg.stop(), stopNow: () => pg.stopNow() });
  await pg.ensureDatabase(DATABASE_NAME);
  const url = pg.url(DATABASE_NAME);
  const applied = await migrateUp(url);
  if (applied.length > 0) say(`applied ${applied.length} database migration(s)`);
  say(`PostgreSQL is up on 127.0.0.1:${pgPort}${pg.runAs ? ` (running as ${pg.runAs})` : ''}`);
  return { url, description: `embedded PostgreSQL on 127.0.0.1:${pgPort}, data in ${shown(dataDir)}` };
}

async function startTemporal(env: StartEnv, dataRoot: string, namespace: string, api: ApiAddress, parts: Parts): Promise<Temporal> {
  if (env.TEMPORAL_ADDRESS) {
    return { address: env.TEMPORAL_ADDRESS, uiUrl: null, localUiOrigins: [], description: `${env.TEMPORAL_ADDRESS} (TEMPORAL_ADDRESS)` };
  }
  const pidFile = path.join(dataRoot, 'temporal.pid');
  const dbFile = path.join(dataRoot, 'temporal.sqlite');
  await stopLeftoverTemporal(pidFile, dbFile);
  const grpcPort = await choosePort('TEMPORAL_PORT', env.TEMPORAL_PORT, DEFAULT_PORTS.temporal);
  const uiPort = await choosePort('TEMPORAL_UI_PORT', env.TEMPORAL_UI_PORT, DEFAULT_PORTS.temporalUi);
  say(`starting the Temporal dev server on 127.0.0.1:${grpcPort}`);
  // Tokenless codec calls only while the API listens on loopback alone (see registerLocalUiCodecAccess).
  const uiCodec = env.TEMPORAL_UI_CODEC === 'local' && isLoopbackHost(api.host);
  const server = await startTemporalDevServer({
    port: grpcPort,
    uiPort,
    dbFile,
    namespace,
    uiCodecEndpoint: uiCodec ? `${api.url}/codec` : undefined,
    detached: true,
  });
  writeFileSync(pidFile, `${server.process.pid}\n`);
  parts.add({
    name: 'Temporal dev server',
    stop: async () => {
      await server.stop();
      rmSync(pidFile, { force: true });
    },
    stopNow: () => {
      if (server.process.exitCode === null && server.process.signalCode === null) server.process.kill('SIGTERM');
    },
  });
  return {
    address: server.address,
    uiUrl: server.uiUrl,
    // The UI listens on 127.0.0.1; a browser may call it localhost too.
    localUiOrigins: uiCodec ? [`http://127.0.0.1:${uiPort}`, `http://localhost:${uiPort}`] : [],
    description: `Temporal dev server on ${server.address}, state in ${shown(dbFile)}`,
  };
}

/** A dev server left running by a start that was killed holds our SQLite file: stop it. */
async function stopLeftoverTemporal(pidFile: string, dbFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    /* gone, or no procfs */
  }
  if (Number.isInteger(pid) && pid > 0 && cmdline.includes('start-dev') && cmdline.includes(dbFile)) {
    say(`stopping the Temporal dev server a previous run left running (pid ${pid})`);
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 15_000;
    const alive = () => {
      try {
        return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
      } catch {
        return false;
      }
    };
    while (alive()) {
      if (Date.now() > deadline) {
        process.kill(pid, 'SIGKILL');
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  rmSync(pidFile, { force: true });
}

/** The sync workers, as `npm run worker` runs them. */
async function startWorkers(config: AppConfig, keySpec: string, pool: Pool, log: Logger, parts: Parts): Promise<void> {
  const client = await Connection.connect({ address: config.temporal.address });
  try {
    await registerSearchAttributes(client, config.temporal.namespace);
  } finally {
    await client.close();
  }
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  parts.add({ name: 'worker connection', stop: () => connection.close() });
  const workers = workerSetFor(config, { connection, pool, keySpec, log });
  parts.add({ name: 'workers', stop: () => workers.shutdown() });
  await workers.start();
}

async function chooseApiAddress(env: StartEnv): Promise<ApiAddress> {
  const host = env.API_HOST;
  const apiPort = await choosePort('API_PORT', env.API_PORT, DEFAULT_PORTS.api, host);
  return { host, port: apiPort, url: `http://${host.includes(':') ? `[${host}]` : host}:${apiPort}` };
}

/** The admin API, as `npm run api` runs it, with the codec open to the local Temporal UI. */
async function startApi(config: AppConfig, env: StartEnv, api: ApiAddress, keySpec: string, pool: Pool, temporalServer: Temporal, parts: Parts): Promise<void> {
  const connection = await Connection.connect({ address: config.temporal.address });
  parts.add({ name: 'API connection to Temporal', stop: () => connection.close() });
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: createDataConverter(keySpec) });
  const crm = new PgCrmRecords(pool);
  const app = await buildApiServer({
    service: new MailboxService(pool, new SecretBox(keySpec), temporal, config.temporal.taskQueuePrefix),
    tokens: new ApiTokens(pool),
    crm,
    items: createItemServices(pool),
    outgoing: new OutgoingEmailService(pool, crm, temporal),
    codec: new EncryptionCodec(keySpec),
    uiOrigin: env.TEMPORAL_UI_ORIGIN ?? temporalServer.uiUrl ?? undefined,
    localUiOrigins: temporalServer.localUiOrigins,
    logger: config.logLevel === 'debug' || config.logLevel === 'trace',
  });
  await app.listen({ host: api.host, port: api.port });
  parts.add({ name: 'admin API', stop: () => app.close() });
}

/**
 * The admin token: created on the first start (and whenever the saved one no longer works,
 * say after the database was replaced), saved in `<data>/admin-token`, mode 600.
 * Returns the token when it was just created (to print once), else null.
 */
async function ensureAdminToken(file: string, pool: Pool): Promise<string | null> {
  const tokens = new ApiTokens(pool);
  if (existsSync(file) && (await tokens.authenticate(readFileSync(file, 'utf8').trim()))) return null;
  const { token } = await tokens.create({ role: 'admin', label: 'npm start' });
  rmSync(file, { force: true });
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** What `<data>/env` holds: enough for `npm run cli` to reach this stack. */
function cliEnv(config: AppConfig): Record<string, string> {
  return {
    DATABASE_URL: config.databaseUrl,
    TEMPORAL_ADDRESS: config.temporal.address,
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    TASK_QUEUE_PREFIX: config.temporal.taskQueuePrefix,
    ...(config.secrets.keys ? {} : { SECRET_KEY_FILE: path.resolve(config.secrets.keyFile) }),
  };
}

function printBanner(o: {
  apiUrl: string;
  temporal: Temporal;
  database: Database;
  newToken: string | null;
  tokenFile: string;
  envFile: string;
  dataRoot: string;
  config: AppConfig;
}): void {
  const lines = [
    '',
    'CRM mail sync is ready.',
    `  Admin API    ${o.apiUrl}   (browse it: ${o.apiUrl}/docs; OpenAPI: ${o.apiUrl}/openapi.json)`,
    `  Dashboard    ${o.apiUrl}/dashboard`,
    `  Temporal UI  ${o.temporal.uiUrl ?? '(the UI of the Temporal server at TEMPORAL_ADDRESS)'}${
      o.temporal.uiUrl ? (o.temporal.localUiOrigins.length > 0 ? `   (decodes payloads with ${o.apiUrl}/codec)` : '   (shows payloads encrypted: see README, "Temporal UI and the codec")') : ''
    }`,
    o.newToken
      ? `  Admin token  ${o.newToken}\n               (shown this once; saved in ${shown(o.tokenFile)})`
      : `  Admin token  in ${shown(o.tokenFile)}`,
    `  Database     ${o.database.description}`,
    `  Temporal     ${o.temporal.description}`,
    '',
    `The CLI works as is from this folder: \`npm run cli -- help\` (it reads ${shown(o.envFile)}).`,
    ...(o.config.secrets.keys ? ['  Give it the same SECRET_KEYS as this shell.'] : []),
    '',
    `Ctrl-C stops everything; the data stays in ${shown(o.dataRoot)}.`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

// Orchestration -------------------------------------------------------------------------

class StopRequested extends Error {}

const parts = new Parts();
let phase: 'starting' | 'running' | 'stopping' = 'starting';
let stopSignal: { signal: string; at: number } | null = null;

/** Between start-up steps: a signal received meanwhile stops the start. */
function checkpoint(): void {
  if (stopSignal) throw new StopRequested(stopSignal.signal);
}

async function shutdown(code: number): Promise<never> {
  phase = 'stopping';
  const clean = await parts.stopAll();
  say(clean ? 'stopped' : 'stopped, with errors');
  process.exit(clean ? code : 1);
}

function onSignal(signal: NodeJS.Signals): void {
  if (stopSignal) {
    // npm and tsx pass a terminal's Ctrl-C on as well: the same request, shortly after.
    if (Date.now() - stopSignal.at < 2000) return;
    process.stderr.write(`[start] ${signal} again: exiting without waiting\n`);
    parts.stopNow();
    process.exit(1);
  }
  stopSignal = { signal, at: Date.now() };
  say(`${signal}: stopping the admin API, the workers, Temporal and PostgreSQL`);
  if (phase === 'running') void shutdown(0);
  // While starting, main() stops at its next step and shuts down what it started.
}

async function main(): Promise<void> {
  const parsed = StartEnv.safeParse(
    Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== '')), // an empty variable counts as unset
  );
  if (!parsed.success) {
    throw new Error(`Invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const env = parsed.data;
  const dataRoot = localDataRoot();
  mkdirSync(dataRoot, { recursive: true, mode: 0o700 });
  // The dev key file lives with the rest of the local data (unless keys are configured).
  const baseEnv: NodeJS.ProcessEnv = { ...process.env };
  if (!baseEnv.SECRET_KEYS && !baseEnv.SECRET_KEY_FILE) baseEnv.SECRET_KEY_FILE = path.join(dataRoot, 'secret-keys');
  const base = loadConfig(baseEnv);
  const log = createLogger(base.logLevel);
  installSdkLogging(log);
  say(`data in ${shown(dataRoot)}`);

  const database = await startDatabase(env, dataRoot, parts);
  checkpoint();
  const api = await chooseApiAddress(env);
  const temporal = await startTemporal(env, dataRoot, base.temporal.namespace, api, parts);
  checkpoint();

  const config = loadConfig({ ...baseEnv, DATABASE_URL: database.url, TEMPORAL_ADDRESS: temporal.address });
  const envFile = writeLocalEnv(dataRoot, cliEnv(config), [
    `Written by \`npm start\` at ${new Date().toISOString()}: the stack it runs.`,
    'npm run cli reads it when DATABASE_URL and TEMPORAL_ADDRESS are unset; a shell: set -a; . <this file>; set +a',
  ]);
  const keySpec = loadKeySpec(config.secrets);
  const pool = createPool(config.databaseUrl);
  parts.add({ name: 'database pool', stop: () => pool.end() });

  say('starting the sync workers');
  await startWorkers(config, keySpec, pool, log, parts);
  checkpoint();
  await startApi(config, env, api, keySpec, pool, temporal, parts);
  const apiUrl = api.url;
  checkpoint();
  const tokenFile = path.join(dataRoot, 'admin-token');
  const newToken = await ensureAdminToken(tokenFile, pool);
  checkpoint();

  phase = 'running';
  printBanner({ apiUrl, temporal, database, newToken, tokenFile, envFile, dataRoot, config });
}

process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// Whatever ends this process, the servers it started do not outlive it.
process.on('exit', () => parts.stopNow());

main().catch(async (err) => {
  if (err instanceof StopRequested) await shutdown(0);
  process.stderr.write(`[start] ${err instanceof Error ? err.message : String(err)}\n`);
  await shutdown(1);
});
