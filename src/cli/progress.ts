import { Presets, SingleBar } from 'cli-progress';
import type { MailboxService } from '../admin/mailboxService';

/**
 * Time left, from the rate so far: items done since the sync started over the time that took.
 * Null while there is no rate yet (nothing done, or no time passed): shown as "ETA —", never "0s".
 */
export function estimateSecondsLeft(p: { itemsDone: number; itemsTotal: number; elapsedMs: number }): number | null {
  if (p.itemsDone <= 0 || p.elapsedMs <= 0) return null;
  const left = Math.max(p.itemsTotal - p.itemsDone, 0);
  return Math.round((left * p.elapsedMs) / p.itemsDone / 1000);
}

export function formatEta(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

const POLL_MS = 250;

/**
 * A progress bar for the mailbox's sync, from the moment it starts (before its first batch has
 * counted anything) until the cycle ends. Returns at once when no sync is running.
 */
export async function watchProgress(admin: MailboxService, mailboxId: string): Promise<void> {
  const bar = new SingleBar(
    { format: '{folder} [{bar}] {value}/{total} messages | {percentage}% | ETA {etaText}', noTTYOutput: true, notTTYSchedule: 1000, emptyOnZero: true },
    Presets.shades_classic,
  );
  let started = false;
  let sawProgress = false;
  const watchStart = Date.now();
  let lastOutcome: string | undefined;
  for (;;) {
    const [{ progress }, live] = await Promise.all([admin.getMailbox(mailboxId), admin.liveStatus(mailboxId)]);
    lastOutcome = live?.lastOutcome?.status;
    // No progress row: either the sync has not counted anything yet (show it starting) or the cycle is over.
    if (!progress && (sawProgress || live?.state !== 'syncing')) break;
    sawProgress ||= progress !== null;
    // Before the first batch there is no count yet: the bar shows the sync starting, at 0.
    const folder = progress?.folder ?? 'starting';
    const total = progress?.itemsTotal ?? 0;
    const done = progress?.itemsDone ?? 0;
    const since = progress?.startedAt ? Date.parse(progress.startedAt) : watchStart;
    const etaText = formatEta(estimateSecondsLeft({ itemsDone: done, itemsTotal: total, elapsedMs: Date.now() - since }));
    if (!started) bar.start(total, done, { folder, etaText });
    started = true;
    bar.setTotal(total);
    bar.update(done, { folder, etaText });
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  if (!started) return;
  if (lastOutcome === 'synced') bar.update(bar.getTotal(), { etaText: '0s' });
  bar.stop();
}
