import { readFileSync } from 'node:fs';
import { UsageError } from './command';

/** A password from stdin (`--password-stdin`) or MAILBOX_PASSWORD: never from a flag, which `ps` would show. */
export function readPassword(fromStdin: boolean | undefined): string {
  const password = fromStdin ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : process.env.MAILBOX_PASSWORD;
  if (!password) throw new UsageError('A password is needed: set MAILBOX_PASSWORD or pass --password-stdin');
  return password;
}

/** The password if one was given (stdin or MAILBOX_PASSWORD), else undefined. */
export function givenPassword(fromStdin: boolean | undefined): string | undefined {
  return fromStdin || process.env.MAILBOX_PASSWORD ? readPassword(fromStdin) : undefined;
}

export const PASSWORD_STDIN = { type: 'boolean', description: 'read the password from stdin (else from MAILBOX_PASSWORD)' } as const;

/** `yes`/`no` for a yes-or-no setting; anything else goes on unchanged, for the schema to refuse naming the flag. */
export const yesNo = (value: string | undefined): unknown => (value === 'yes' ? true : value === 'no' ? false : value);

/** A comma-separated list: "INBOX, Work" -> ["INBOX", "Work"]. */
export const list = (value: string | undefined) => value?.split(',').map((v) => v.trim());

/** The text of a file named by a flag (a certificate, a key); a UsageError naming the flag if it cannot be read. */
export function readFileOption(flag: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--${flag}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** A secret from stdin when its flag is set (never from a flag's value, which `ps` would show), else undefined. */
export function readSecretFromStdin(flag: string, fromStdin: boolean | undefined): string | undefined {
  if (!fromStdin) return undefined;
  const secret = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  if (!secret) throw new UsageError(`--${flag}: stdin was empty; pipe the secret in`);
  return secret;
}
