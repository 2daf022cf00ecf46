/**
 * The mailbox workflow's current details, as Temporal UI shows them (markdown): who the mailbox
 * is, what it is doing and why it is not syncing. Pure, so it is unit-tested and deterministic.
 */
export interface DetailsFacts {
  emailAddress: string;
  ownerName: string | null;
  state: string;
  lastError: string | null;
  /** ISO 8601, or null when no sync is planned (parked, or running now). */
  nextSyncAt: string | null;
  /** Why the sync activity is being retried, while it is. */
  retrying: string | null;
}

// Markdown would otherwise read an address's underscores or an error's brackets as formatting.
const escape = (text: string) => text.replace(/[\\`*_{}[\]()<>#+!|~-]/g, (c) => `\\${c}`).replace(/\s+/g, ' ');

export function currentDetails(f: DetailsFacts): string {
  const lines = [
    `**${escape(f.emailAddress)}** (owner: ${f.ownerName ? escape(f.ownerName) : 'none'})`,
    `- State: ${f.state}`,
    `- Last error: ${f.lastError ? escape(f.lastError) : 'none'}`,
    `- Next sync: ${f.nextSyncAt ?? 'not planned'}`,
  ];
  if (f.retrying) lines.push(`- Sync activity retrying: ${escape(f.retrying)}`);
  return lines.join('\n');
}
