import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { projectRoot } from '../projectRoot';
import { SEARCH_ATTRIBUTES } from './searchAttributes';

/** TEMPORAL_CLI, else the project's tools folder, else `temporal` on PATH. */
export function findTemporalCli(): string {
  const candidates = [process.env.TEMPORAL_CLI, path.join(projectRoot(), '.tools', 'bin', 'temporal')].filter(
    (p): p is string => typeof p === 'string' && p.length > 0,
  );
  for (const c of candidates) if (existsSync(c)) return c;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, 'temporal');
    if (dir && existsSync(p)) return p;
  }
  throw new Error('The Temporal CLI is not installed. Run `npm run setup:tools` (builds it into .tools/bin with Go), or set TEMPORAL_CLI.');
}

export interface DevServerOptions {
  port: number;
  uiPort?: number;
  /** Persist to this SQLite file; in memory when omitted. */
  dbFile?: string;
  namespace?: string;
  /** Temporal UI's remote codec endpoint (`<api>/codec`): the UI then shows decoded payloads. */
  uiCodecEndpoint?: string;
  /** In its own process group, so a terminal's Ctrl-C reaches only the parent, which stops it. */
  detached?: boolean;
}

export interface RunningDevServer {
  address: string;
  uiUrl: string | null;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `temporal server start-dev` with the product's search attributes and waits until it answers. */
export async function startTemporalDevServer(opts: DevServerOptions): Promise<RunningDevServer> {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(opts.port), '--log-level', 'error'];
  if (opts.uiPort) args.push('--ui-port', String(opts.uiPort));
  else args.push('--headless');
  if (opts.uiPort && opts.uiCodecEndpoint) args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  if (opts.namespace && opts.namespace !== 'default') args.push('--namespace', opts.namespace);
  for (const key of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=Keyword`);

  const child = spawn(findTemporalCli(), args, { stdio: ['ignore', 'ignore', 'pipe'], detached: opts.detached ?? false });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const address = `127.0.0.1:${opts.port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`Temporal dev server exited (code ${code}): ${stderr.trim()}`))),
  );
  exited.catch(() => undefined);

  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const connection = await Promise.race([Connection.connect({ address, connectTimeout: 1000 }), exited]);
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`Temporal dev server did not start on ${address}: ${(err as Error).message} ${stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  return {
    address,
    uiUrl: opts.uiPort ? `http://127.0.0.1:${opts.uiPort}` : null,
    process: child,
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
