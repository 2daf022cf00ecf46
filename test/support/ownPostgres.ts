/**
 * Test harness: a PostgreSQL server of the test's own, for tests that stop and start it (never
 * the machine's shared one). Debian's PostgreSQL binaries (PG_BIN_DIR, default
 * /usr/lib/postgresql/15/bin), a cluster in a temp folder with trust authentication, listening
 * on a free loopback port only; started and stopped with pg_ctl, as an operator would. When the
 * tests run as root it runs as the `postgres` account (PostgreSQL refuses root).
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './env';

const run = promisify(execFile);
const BIN_DIR = process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';
const ACCOUNT = 'postgres';
const PG_CTL_TIMEOUT_SECONDS = 60;

export class OwnPostgres {
  private constructor(
    private readonly dir: string,
    readonly port: number,
    private readonly account: { uid: number; gid: number } | null,
  ) {}

  static async create(): Promise<OwnPostgres> {
    for (const bin of ['initdb', 'pg_ctl']) {
      if (!existsSync(path.join(BIN_DIR, bin))) {
        throw new Error(`${bin} not found in ${BIN_DIR}: apt-get install -y postgresql-15, or set PG_BIN_DIR to PostgreSQL's bin folder`);
      }
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crm-sync-own-pg-'));
    const account = process.getuid?.() === 0 ? await lookupAccount(ACCOUNT) : null;
    if (account) chownSync(dir, account.uid, account.gid);
    const pg = new OwnPostgres(dir, await freePort(), account);
    await pg.exec('initdb', ['-D', pg.dataDir, '--auth=trust', `--username=${ACCOUNT}`, '--encoding=UTF8', '--locale=C', '--no-instructions']);
    await pg.start();
    return pg;
  }

  private get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  url(database: string): string {
    return `postgres://${ACCOUNT}@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    await this.exec('pg_ctl', [
      'start',
      '-D',
      this.dataDir,
      '-l',
      path.join(this.dir, 'server.log'),
      '-w',
      '-t',
      String(PG_CTL_TIMEOUT_SECONDS),
      '-o',
      `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dir}`,
    ]);
  }

  /** `pg_ctl stop -m fast` (sessions are ended, a checkpoint written) or `-m immediate` (no checkpoint: recovery at the next start). */
  async stop(mode: 'fast' | 'immediate'): Promise<void> {
    await this.exec('pg_ctl', ['stop', '-D', this.dataDir, '-m', mode, '-w', '-t', String(PG_CTL_TIMEOUT_SECONDS)]);
  }

  async destroy(): Promise<void> {
    if (existsSync(path.join(this.dataDir, 'postmaster.pid'))) await this.stop('immediate').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async exec(bin: string, args: string[]): Promise<void> {
    try {
      await run(path.join(BIN_DIR, bin), args, {
        ...(this.account ?? {}),
        cwd: this.dir,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
        timeout: (PG_CTL_TIMEOUT_SECONDS + 30) * 1000,
      });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw new Error(`${bin} ${args[0]} failed: ${(e.stderr || e.stdout || e.message).trim()}`);
    }
  }
}

async function lookupAccount(name: string): Promise<{ uid: number; gid: number }> {
  const id = async (flag: string) => Number((await run('id', [flag, name])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}
