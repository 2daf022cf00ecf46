import type { EmailMessage } from '../domain/email';
import type { IncomingBatch, IncomingItem, MailSource } from '../mail/mailSource';
import type { ParseOutcome } from '../mail/parseWorker';
import { shouldTrack } from '../policy/tracking';
import type { IncomingEmail, ItemError, MailboxSyncContext, StoredParty, SyncStore } from '../store/syncStore';

export interface SyncProgress {
  folder: string;
  itemsDone: number;
  /** Items done plus those known to be still waiting in the folder. */
  itemsTotal: number;
}

export interface IncomingSyncDeps {
  store: SyncStore;
  openSource: (context: MailboxSyncContext) => MailSource;
  /** Parses raw messages, each to its message or the reason it could not be parsed, in order. */
  parseMime: (raws: Buffer[]) => Promise<ParseOutcome[]>;
  batchSize: number;
  /** Called after every committed batch: the activity heartbeats it. */
  onProgress?: (progress: SyncProgress) => void;
  /** Runs `use` holding one of the server's connection slots, released when it settles. */
  withConnectionSlot: <T>(context: MailboxSyncContext, use: () => Promise<T>) => Promise<T>;
  /** A cycle stops after the batch that reaches either limit; the rest waits for the next cycle. */
  budget?: { maxItems: number; maxMs: number };
}

export type IncomingSyncResult =
  | { status: 'disabled' }
  | {
      status: 'synced';
      itemsFound: number;
      itemsStored: number;
      itemsFailed: number;
      itemsSkipped: number;
      /** The budget ran out with items left: the next cycle should come soon. */
      moreAvailable: boolean;
      /** Time to connect and log in: how loaded the server is. */
      responseMs: number;
    };

// SQLSTATE classes that one bad row can cause (data exception, integrity, program limit): worth retrying row by row.
const ROW_LEVEL_SQLSTATE = /^(22|23|54)/;

/** Pulls what is new in each of the mailbox's folders and stores it, batch by batch, cursor with the batch. */
export async function runIncomingSync(mailboxId: string, deps: IncomingSyncDeps): Promise<IncomingSyncResult> {
  const context = await deps.store.loadSyncContext(mailboxId);
  if (!context || !context.incomingEnabled) return { status: 'disabled' };
  return deps.withConnectionSlot(context, () => syncWithSlot(context, deps));
}

async function syncWithSlot(context: MailboxSyncContext, deps: IncomingSyncDeps): Promise<IncomingSyncResult> {
  const totals = { itemsFound: 0, itemsStored: 0, itemsFailed: 0, itemsSkipped: 0 };
  const started = Date.now();
  // Counted as batches are handed to storage, so the cycle never takes more than its budget.
  let dispatched = 0;
  const overBudget = () => !!deps.budget && (dispatched >= deps.budget.maxItems || Date.now() - started >= deps.budget.maxMs);
  let moreAvailable = false;
  let responseMs = 0;
  const source = deps.openSource(context);
  try {
    await deps.store.recordCycleStart(context.mailboxId);
    const connecting = Date.now();
    await source.connect();
    responseMs = Date.now() - connecting;
    for (const folder of context.folders) {
      if (overBudget()) {
        moreAvailable = true;
        break;
      }
      let done = 0;
      const batches = source.pull(folder, context.cursors.get(folder) ?? null, {
        batchSize: deps.batchSize,
        processEmailFrom: context.processEmailFrom,
        maxMessageBytes: context.maxMessageBytes,
        seen: { lookup: (remoteIds) => deps.store.lookupSeen(context.mailboxId, folder, remoteIds) },
      });
      // A three-stage pipeline: the source streams later batches in while batch N+1 is parsed and
      // batch N is stored. Commits stay in order, so the cursor still only moves past stored items.
      let storing: Promise<void> | undefined;
      for await (const batch of batches) {
        const prepared = await prepareBatch(context, batch, deps);
        done += batch.items.length + batch.skipped;
        const progress = { folder, itemsDone: done, itemsTotal: done + batch.remaining };
        await storing;
        storing = commitBatch(context, folder, prepared, progress, deps).then(async (counts) => {
          // Only what is committed is handed back: a source that deletes processed mail deletes nothing else.
          if (counts.storedRemoteIds.length > 0) await source.committed?.(folder, counts.storedRemoteIds);
          totals.itemsFound += batch.items.length;
          totals.itemsStored += counts.stored;
          totals.itemsFailed += counts.failed;
          totals.itemsSkipped += batch.skipped + prepared.untracked;
          deps.onProgress?.(progress);
        });
        // Observed here so a failed commit is not reported as unhandled while the next batch is prepared.
        storing.catch(() => undefined);
        dispatched += batch.items.length;
        if (batch.remaining > 0 && overBudget()) {
          moreAvailable = true;
          break;
        }
      }
      await storing;
    }
  } finally {
    await source.close();
  }
  return { status: 'synced', ...totals, moreAvailable, responseMs };
}

interface PreparedBatch {
  batch: IncomingBatch;
  emails: IncomingEmail[];
  errors: ItemError[];
  untracked: number;
}

async function prepareBatch(context: MailboxSyncContext, batch: IncomingBatch, deps: IncomingSyncDeps): Promise<PreparedBatch> {
  const errors: ItemError[] = [];
  const parsed: { item: IncomingItem; message: EmailMessage }[] = [];
  // All of a batch's messages go to the parser at once: a parse pool spreads them over its threads.
  const mime = batch.items.filter((item): item is Extract<IncomingItem, { kind: 'mime' }> => item.kind === 'mime');
  const outcomes = mime.length > 0 ? await deps.parseMime(mime.map((item) => item.raw)) : [];
  let next = 0;
  for (const item of batch.items) {
    if (item.kind === 'error') errors.push({ remoteId: item.remoteId, message: item.message });
    else if (item.kind === 'email') parsed.push({ item, message: item.message });
    else {
      const outcome = outcomes[next++];
      if ('message' in outcome) parsed.push({ item, message: outcome.message });
      else errors.push({ remoteId: item.remoteId, message: `Message could not be parsed: ${outcome.error}` });
    }
  }

  const emails = await toIncomingEmails(context, parsed, deps.store);
  return { batch, emails, errors, untracked: parsed.length - emails.length };
}

async function commitBatch(context: MailboxSyncContext, folder: string, prepared: PreparedBatch, progress: SyncProgress, deps: IncomingSyncDeps) {
  const { batch, emails } = prepared;
  const errors = [...prepared.errors];
  const commit = {
    mailboxId: context.mailboxId,
    mappingVersion: context.mappingVersion,
    ownerUserId: context.ownerUserId,
    ownerQueueId: context.ownerQueueId,
    folder,
    reset: batch.reset,
    cursor: batch.cursor,
    seen: batch.seen,
    listed: batch.listed,
    progress,
  };
  try {
    await deps.store.commitIncomingBatch({ ...commit, emails, errors });
    return { stored: emails.length, failed: errors.length, storedRemoteIds: emails.map((e) => e.remoteId) };
  } catch (err) {
    if (!ROW_LEVEL_SQLSTATE.test(String((err as { code?: unknown }).code ?? ''))) throw err;
  }
  // One message the database refuses must not hold back the rest: store them one by one, then
  // move the cursor with the refusals recorded as item errors.
  const storedRemoteIds: string[] = [];
  for (const email of emails) {
    try {
      await deps.store.commitIncomingBatch({
        ...commit,
        cursor: undefined,
        seen: undefined,
        listed: undefined,
        progress: undefined,
        reset: false,
        emails: [email],
        errors: [],
      });
      storedRemoteIds.push(email.remoteId);
    } catch (err) {
      errors.push({ remoteId: email.remoteId, message: `Message could not be stored: ${(err as Error).message}` });
    }
  }
  await deps.store.commitIncomingBatch({ ...commit, emails: [], errors });
  return { stored: storedRemoteIds.length, failed: errors.length, storedRemoteIds };
}

async function toIncomingEmails(
  context: MailboxSyncContext,
  parsed: { item: IncomingItem; message: EmailMessage }[],
  store: SyncStore,
): Promise<IncomingEmail[]> {
  if (parsed.length === 0) return [];
  const addresses = parsed.flatMap(({ message: m }) => [...m.from, ...m.to, ...m.cc, ...m.bcc].flatMap((a) => (a.address ? [a.address] : [])));
  const records = await store.resolveAddresses(addresses);
  const replied =
    context.trackingOption === 'replies_to_crm'
      ? await store.findTrackedMessageIds(parsed.flatMap(({ message: m }) => [...(m.inReplyTo ? [m.inReplyTo] : []), ...m.references]))
      : new Set<string>();

  const emails: IncomingEmail[] = [];
  for (const { item, message } of parsed) {
    // The first sender with an address: one named without an address resolves to no record.
    const senderAddress = message.from.find((a) => a.address !== null)?.address;
    const sender = senderAddress ? records.get(senderAddress) : undefined;
    const track = shouldTrack(context.trackingOption, {
      senderRecordType: sender?.type ?? null,
      repliesToTrackedEmail: [message.inReplyTo, ...message.references].some((id) => id !== null && replied.has(id)),
    });
    if (!track) continue;
    const parties: StoredParty[] = [];
    const seen = new Set<string>();
    for (const role of ['from', 'to', 'cc', 'bcc'] as const) {
      for (const a of message[role]) {
        // Once per role: by address, or by name for a party named without one (kept unresolved).
        const key = a.address === null ? `${role} name ${a.name}` : `${role} address ${a.address}`;
        if (seen.has(key)) continue;
        seen.add(key);
        parties.push({ role, address: a.address, name: a.name ?? null, record: a.address === null ? null : (records.get(a.address) ?? null) });
      }
    }
    emails.push({ remoteId: item.remoteId, message, receivedAt: item.kind === 'error' ? null : item.receivedAt, parties });
  }
  return emails;
}
