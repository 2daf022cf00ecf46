import { readFileSync } from 'node:fs';
import { UsageError } from './command';

/** A password from stdin (`--password-stdin`) or MAILBOX_PASSWORD: never from a flag, which `ps` would show. */
export function readPassword(fromStdin: boolean | undefined): string {
  const password = fromStdin ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : process.env.MAILBOX_PASSWORD;
  if (!password) throw new UsageError('A password is needed: set MAILBOX_PASSWORD or pass --password-stdin');
  return password;
}

export const PASSWORD_STDIN = { type: 'boolean', description: 'read the password from stdin (else from MAILBOX_PASSWORD)' } as const;

/** A comma-separated list: "INBOX, Work" -> ["INBOX", "Work"]. */
export const list = (value: string | undefined) => value?.split(',').map((v) => v.trim());

/** `yes`/`no` for a yes-or-no setting; anything else goes on unchanged, for the schema to refuse naming the flag. */
export const yesNo = (value: string | undefined): unknown => (value === 'yes' ? true : value === 'no' ? false : value);
