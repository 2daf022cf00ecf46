/**
 * `npm start` end to end: the product on its embedded defaults (embedded PostgreSQL, a Temporal
 * dev server with its state in SQLite), driven through its CLI like a person would, stopped
 * with SIGINT and started again on the same data.
 *
 * The product runs as its own process with the project as working folder but its data in a
 * fresh temp folder (CRM_SYNC_DATA_DIR), free ports, and no DATABASE_URL / TEMPORAL_ADDRESS
 * (jest's global setup sets TEMPORAL_ADDRESS for the other tests: removed for the child).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { chromium } from 'playwright-core';
import { stopLeftoverPostgres } from '../src/start/embeddedPostgres';
import { loadLocalEnv, parseLocalEnv, writeLocalEnv } from '../src/start/localEnv';
import { mailboxWorkflowId } from '../src/temporal/names';
import { DovecotServer } from './support/dovecot';
import { freePort } from './support/env';
import { makeMessages } from './support/messages';
import { eventually, FAST_SYNC_ENV } from './support/testBed';

jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '..');
const READY = /Ctrl-C stops everything/;
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 60_000;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, '..', 'test-artifacts');

/** Settings of the parent that must not leak into the product (it would use them instead of its embedded parts). */
const NOT_INHERITED = ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TASK_QUEUE_PREFIX', 'SECRET_KEYS', 'SECRET_KEY_FILE', 'WORKFLOW_BUNDLE_PATH'];

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of NOT_INHERITED) delete env[key];
  return { ...env, ...extra };
}

interface Product {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startProduct(env: NodeJS.ProcessEnv): Product {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'start', 'main.ts')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => out, exited };
}

/** Waits for the ready banner; fails at once, with the product's output, if it exits first. */
async function waitForReady(p: Product): Promise<number> {
  const t0 = Date.now();
  while (!READY.test(p.output())) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) {
      throw new Error(`npm start exited (${p.child.exitCode ?? p.child.signalCode}) before it was ready:\n${p.output()}`);
    }
    if (Date.now() - t0 > START_TIMEOUT_MS) throw new Error(`npm start not ready after ${START_TIMEOUT_MS} ms:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - t0;
}

async function stopWithSigint(p: Product): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const t0 = Date.now();
  p.child.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    p.exited,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still running ${STOP_TIMEOUT_MS} ms after SIGINT:\n${p.output()}`)), STOP_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  return { ...result, ms: Date.now() - t0 };
}

/** `npm run cli -- <args>` with the settings the product wrote; parses its JSON output. */
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`cli ${args.join(' ')} failed: ${err.message}\n${stderr}\n${stdout}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Temporal UI, as an operator opens it: the mailbox workflow's page shows the start input decoded
 * (through the admin API's codec, with no token: the local UI has no login) and the workflow's summary.
 */
async function expectDecodedInTemporalUi(uiUrl: string, mailboxId: string, summary: string): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const codecAnswers: number[] = [];
    page.on('response', (r) => {
      if (r.url().includes('/codec/decode')) codecAnswers.push(r.status());
    });
    await page.goto(`${uiUrl}/namespaces/default/workflows/${mailboxWorkflowId(mailboxId)}`);
    await page.getByText(`"mailboxId": "${mailboxId}"`).first().waitFor({ timeout: 60_000 });
    expect(codecAnswers.length).toBeGreaterThan(0);
    expect(codecAnswers.every((status) => status === 200)).toBe(true);
    expect(await page.locator('body').innerText()).not.toContain('binary/encrypted');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'temporal-ui-input.png') });
    // The summary, on the workflow's User Metadata tab (rendered as markdown in a frame of its own).
    await page.getByText('User Metadata', { exact: true }).first().click();
    await eventually('the summary on the User Metadata tab', async () => {
      const texts = await Promise.all(page.frames().map((f) => f.locator('body').innerText().catch(() => '')));
      return texts.some((t) => t.includes(summary));
    }, 30_000, 250);
    await page.screenshot({ path: path.join(ARTIFACTS, 'temporal-ui-summary.png') });
  } finally {
    await browser.close();
  }
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

async function query<T = Record<string, unknown>>(databaseUrl: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

describe('npm start on embedded defaults', () => {
  let dataDir: string;
  let dovecot: DovecotServer | undefined;
  let product: Product | undefined;

  beforeAll(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-start-'));
  });

  afterAll(async () => {
    if (product && product.child.exitCode === null && product.child.signalCode === null) {
      product.child.kill('SIGTERM');
      const gone = await Promise.race([product.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000))]);
      if (!gone) product.child.kill('SIGKILL');
    }
    // Servers a failed run may have left behind (they run in their own process groups).
    await stopLeftoverPostgres(path.join(dataDir, 'postgres')).catch(() => undefined);
    const temporalPid = path.join(dataDir, 'temporal.pid');
    if (existsSync(temporalPid)) {
      try {
        process.kill(Number(readFileSync(temporalPid, 'utf8')), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await dovecot?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs the whole product, syncs a mailbox set up with the CLI, stops on SIGINT and keeps everything across a restart', async () => {
    const [api, temporal, ui, pg] = await distinctFreePorts(4);
    const ports = { API_PORT: api, TEMPORAL_PORT: temporal, TEMPORAL_UI_PORT: ui, EMBEDDED_PG_PORT: pg };
    const env = cleanEnv({ ...FAST_SYNC_ENV, CRM_SYNC_DATA_DIR: dataDir, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) });

    // First start: a new cluster, a new Temporal state, a new admin token.
    product = startProduct(env);
    const firstStartMs = await waitForReady(product);
    const banner = product.output();
    const token = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    expect(token).toMatch(/^cms_/);
    expect(banner).toContain(`Admin token  ${token}`);
    expect(statSync(path.join(dataDir, 'admin-token')).mode & 0o777).toBe(0o600);
    expect(banner).toContain(`http://127.0.0.1:${ports.API_PORT}/dashboard`);
    expect(banner).toContain(`Temporal UI  http://127.0.0.1:${ports.TEMPORAL_UI_PORT}`);
    // The CLI reads .data/env itself: the banner says so, and no longer asks to source it.
    expect(banner).toContain('npm run cli -- help');
    expect(banner).not.toContain('set -a');
    expect(banner).not.toMatch(/postgres:\/\/postgres:[0-9a-f]{8,}@/); // the password stays in the env file

    const local = parseLocalEnv(readFileSync(path.join(dataDir, 'env'), 'utf8'));
    expect(statSync(path.join(dataDir, 'env')).mode & 0o777).toBe(0o600);
    expect(local.DATABASE_URL).toMatch(new RegExp(`@127\\.0\\.0\\.1:${ports.EMBEDDED_PG_PORT}/crm_sync$`));
    expect(local.TEMPORAL_ADDRESS).toBe(`127.0.0.1:${ports.TEMPORAL_PORT}`);
    expect(local.SECRET_KEY_FILE).toBe(path.join(dataDir, 'secret-keys'));
    const cliEnv = cleanEnv({ ...local, LOG_LEVEL: 'warn' });

    // The admin API answers with the token; Temporal UI is up.
    const me = await fetch(`http://127.0.0.1:${ports.API_PORT}/mailboxes`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${ports.API_PORT}/mailboxes`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${ports.TEMPORAL_UI_PORT}/`)).status).toBe(200);

    // A mail server with mail waiting, and the CRM set up through the CLI.
    dovecot = await DovecotServer.start({ name: 'start' });
    const user = 'alice@example.test';
    await dovecot.addUser(user, 'secret');
    await dovecot.deliver(user, makeMessages(5, { to: user, subject: 'Before restart' }));
    const profile = await cli(
      ['profile', 'create', '--name', 'Dovecot', '--type', 'imap', '--host', dovecot.host, '--port', String(dovecot.imapPort), '--security', 'none', '--min-poll-seconds', '1'],
      cliEnv,
    );
    const crmUser = await cli(['user', 'create', '--name', 'Alice', '--email', user, '--tracking', 'all'], cliEnv);
    const mailbox = await cli(['mailbox', 'create', '--email', user, '--profile', profile.id, '--user', crmUser.id, '--approve'], { ...cliEnv, MAILBOX_PASSWORD: 'secret' });

    const linked = (n: number) => async () => {
      const [{ count }] = await query<{ count: number }>(local.DATABASE_URL, `SELECT count(*)::int AS count FROM item_links WHERE mailbox_id = $1`, [mailbox.id]);
      return count === n;
    };
    await eventually('the 5 messages in the CRM', linked(5), 90_000, 250);
    const subjects = await query<{ subject: string }>(
      local.DATABASE_URL,
      `SELECT e.subject FROM item_links l JOIN email_activities e ON e.id = l.crm_record_id WHERE l.mailbox_id = $1 ORDER BY e.subject`,
      [mailbox.id],
    );
    expect(subjects.map((s) => s.subject.replace(/ \S+ #/, ' #'))).toEqual([1, 2, 3, 4, 5].map((i) => `Before restart #${i}`));

    // Temporal UI shows the workflow decoded, with its summary: address and owner.
    expect(banner).toContain(`decodes payloads with http://127.0.0.1:${ports.API_PORT}/codec`);
    await expectDecodedInTemporalUi(`http://127.0.0.1:${ports.TEMPORAL_UI_PORT}`, mailbox.id, `${user} (Alice)`);

    // Ctrl-C: everything stops, promptly and cleanly, and nothing keeps listening.
    const firstStop = await stopWithSigint(product);
    expect(firstStop).toMatchObject({ code: 0, signal: null });
    for (const port of Object.values(ports)) expect(await listening(port)).toBe(false);
    expect(product.output()).toMatch(/\[start\] stopped\n/);

    // Second start on the same data: the same token (not printed again), the rows, the workflow.
    product = startProduct(env);
    const secondStartMs = await waitForReady(product);
    expect(product.output()).not.toContain(token);
    expect(product.output()).toContain(`Admin token  in ${path.join(dataDir, 'admin-token')}`);
    expect(readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim()).toBe(token);
    expect(await linked(5)()).toBe(true);
    const status = await cli(['mailbox', 'status', mailbox.id], cliEnv);
    expect(status.mailbox.id).toBe(mailbox.id);
    expect(status.workflow).not.toBeNull();
    expect(status.workflow).toEqual(expect.any(Object));

    // New mail still syncs, on the workflow's own (durable) schedule.
    await dovecot.deliver(user, makeMessages(1, { to: user, subject: 'After restart' }));
    await eventually('the message delivered after the restart in the CRM', linked(6), 90_000, 250);

    const secondStop = await stopWithSigint(product);
    expect(secondStop).toMatchObject({ code: 0, signal: null });
    for (const port of Object.values(ports)) expect(await listening(port)).toBe(false);
    console.log(`npm start: first start ${firstStartMs} ms, stop ${firstStop.ms} ms; second start ${secondStartMs} ms, stop ${secondStop.ms} ms`);
  });
});

describe('loadLocalEnv', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crm-localenv-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fills what is unset from <data>/env, only when neither DATABASE_URL nor TEMPORAL_ADDRESS is set', () => {
    mkdirSync(dir, { recursive: true });
    writeLocalEnv(dir, { DATABASE_URL: 'postgres://postgres:p@127.0.0.1:5433/crm_sync', TEMPORAL_ADDRESS: '127.0.0.1:7233', SECRET_KEY_FILE: "/tmp/a dir/it's" }, ['a comment']);
    const env: NodeJS.ProcessEnv = { SECRET_KEY_FILE: '/mine' };
    expect(loadLocalEnv(dir, env)).toBe(path.join(dir, 'env'));
    expect(env).toEqual({ DATABASE_URL: 'postgres://postgres:p@127.0.0.1:5433/crm_sync', TEMPORAL_ADDRESS: '127.0.0.1:7233', SECRET_KEY_FILE: '/mine' });
    expect(parseLocalEnv(readFileSync(path.join(dir, 'env'), 'utf8')).SECRET_KEY_FILE).toBe("/tmp/a dir/it's");

    const configured: NodeJS.ProcessEnv = { TEMPORAL_ADDRESS: 'temporal:7233' };
    expect(loadLocalEnv(dir, configured)).toBeNull();
    expect(configured).toEqual({ TEMPORAL_ADDRESS: 'temporal:7233' });
    expect(loadLocalEnv(path.join(dir, 'missing'), {})).toBeNull();
  });

  it('writes a file a shell can source', async () => {
    const values = { A: 'plain', B: "it's got 'quotes' and $dollars", C: 'sp ace' };
    writeLocalEnv(dir, values);
    const script = `set -a; . '${path.join(dir, 'env')}'; set +a; node -e 'console.log(JSON.stringify({A:process.env.A,B:process.env.B,C:process.env.C}))'`;
    const out = await new Promise<string>((resolve, reject) => execFile('sh', ['-c', script], (err, stdout) => (err ? reject(err) : resolve(stdout))));
    expect(JSON.parse(out)).toEqual(values);
    writeFileSync(path.join(dir, 'env'), '');
  });
});
