import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../projectRoot';

/**
 * `npm start` keeps everything it runs under one local folder, `.data` in the project
 * (CRM_SYNC_DATA_DIR overrides it), and writes `<data root>/env`: how to reach the stack it
 * runs (DATABASE_URL, TEMPORAL_ADDRESS, ...), in a form a shell can source
 * (`set -a; . .data/env; set +a`) and `loadLocalEnv` can read.
 */

export const LOCAL_ENV_FILE = 'env';

export function localDataRoot(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.CRM_SYNC_DATA_DIR || path.join(projectRoot(), '.data'));
}

/**
 * For the CLI (and other entry points) on a developer machine: when neither DATABASE_URL nor
 * TEMPORAL_ADDRESS is set, takes the settings `npm start` wrote to `<data root>/env`, without
 * overriding any variable that is set. Returns the file it read, or null.
 */
export function loadLocalEnv(dataRoot: string = localDataRoot(), env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.DATABASE_URL || env.TEMPORAL_ADDRESS) return null;
  const file = path.join(dataRoot, LOCAL_ENV_FILE);
  if (!existsSync(file)) return null;
  for (const [key, value] of Object.entries(parseLocalEnv(readFileSync(file, 'utf8')))) {
    if (env[key] === undefined) env[key] = value;
  }
  return file;
}

/** Writes `<data root>/env` (mode 600: the database URL holds a password). Returns its path. */
export function writeLocalEnv(dataRoot: string, values: Record<string, string>, header: string[] = []): string {
  mkdirSync(dataRoot, { recursive: true });
  const file = path.join(dataRoot, LOCAL_ENV_FILE);
  const lines = [...header.map((h) => `# ${h}`), ...Object.entries(values).map(([k, v]) => `${k}=${shellQuote(v)}`)];
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${lines.join('\n')}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}

/** `KEY=value` lines; values plain or in single quotes (with `'\''` for a quote); `#` comments. */
export function parseLocalEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    out[m[1]] = unquote(m[2]);
  }
  return out;
}

function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]*$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function unquote(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; ) {
    if (value[i] === "'") {
      const end = value.indexOf("'", i + 1);
      if (end < 0) return out + value.slice(i + 1);
      out += value.slice(i + 1, end);
      i = end + 1;
    } else if (value[i] === '\\' && i + 1 < value.length) {
      out += value[i + 1];
      i += 2;
    } else {
      out += value[i];
      i += 1;
    }
  }
  return out;
}
