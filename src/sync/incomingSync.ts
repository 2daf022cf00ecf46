import type { CrmRecordType, EmailMessage } from '../domain/email';
import { DEFAULT_SENT_FOLDER, type IncomingBatch, type IncomingItem, type MailSource } from '../mail/mailSource';
import type { ParseOutcome } from '../mail/parseWorker';
import { findTrackingTokens, normaliseSubject } from '../policy/trackingToken';
import type { EmailTrackingFacts, IncomingEmail, ItemError, MailboxSyncContext, StoredParty, SyncStore } from '../store/syncStore';

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
  /** A batch ends at `batchSize` messages or once its messages reach this many bytes. */
  batchMaxBytes: number;
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
    for (const folder of await foldersToSync(context, source)) {
      if (overBudget()) {
        moreAvailable = true;
        break;
      }
      let done = 0;
      const batches = source.pull(folder, context.cursors.get(folder) ?? null, {
        batchSize: deps.batchSize,
        batchMaxBytes: deps.batchMaxBytes,
        processEmailFrom: context.processEmailFrom,
        maxMessageBytes: context.maxMessageBytes,
        seen: { lookup: (remoteIds) => deps.store.lookupSeen(context.mailboxId, folder, remoteIds) },
      });
      // A three-stage pipeline: the source streams later batches in while batch N+1 is parsed and
      // batch N is stored. Commits stay in order, so the cursor still only moves past stored items.
      let storing: Promise<void> | undefined;
      try {
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
            totals.itemsSkipped += batch.skipped + counts.untracked;
            deps.onProgress?.(progress);
          });
          // Observed here so a failed commit is not reported as unhandled while the next batch is prepared.
          storing.catch(() => undefined);
          dispatched += batch.items.length;
          if (batch.remaining > 0 && batch.resumableHere !== false && overBudget()) {
            moreAvailable = true;
            break;
          }
        }
      } catch (err) {
        // The source failed (throttled, gone): the batch being stored settles before the cycle
        // ends, so no commit outlives it and the next cycle starts from the cursor it left.
        await storing?.catch(() => undefined);
        throw err;
      }
      await storing;
    }
  } finally {
    await source.close();
  }
  return { status: 'synced', ...totals, moreAvailable, responseMs };
}

/** The mailbox's folders, and its Sent folder when it is tracked too. */
async function foldersToSync(context: MailboxSyncContext, source: MailSource): Promise<string[]> {
  if (!context.trackSentFolder) return context.folders;
  const sent = context.sentFolder ?? (await source.findSentFolder()) ?? DEFAULT_SENT_FOLDER;
  return context.folders.includes(sent) ? context.folders : [...context.folders, sent];
}

interface PreparedBatch {
  batch: IncomingBatch;
  emails: IncomingEmail[];
  errors: ItemError[];
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
  return { batch, emails, errors };
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
    removed: batch.removed,
    seen: batch.seen,
    listed: batch.listed,
    progress,
    tracking: context.tracking,
  };
  try {
    const { storedRemoteIds } = await deps.store.commitIncomingBatch({ ...commit, emails, errors });
    return { stored: storedRemoteIds.length, failed: errors.length, untracked: emails.length - storedRemoteIds.length, storedRemoteIds };
  } catch (err) {
    if (!ROW_LEVEL_SQLSTATE.test(String((err as { code?: unknown }).code ?? ''))) throw err;
  }
  // One message the database refuses must not hold back the rest: store them one by one, then
  // move the cursor with the refusals recorded as item errors. A folder starting over drops its
  // old links before any of them is stored.
  if (batch.reset) await deps.store.commitIncomingBatch({ ...commit, cursor: undefined, seen: undefined, listed: undefined, removed: undefined, progress: undefined, emails: [], errors: [] });
  const storedRemoteIds: string[] = [];
  let untracked = 0;
  for (const email of emails) {
    try {
      const one = await deps.store.commitIncomingBatch({
        ...commit,
        cursor: undefined,
        seen: undefined,
        listed: undefined,
        removed: undefined,
        progress: undefined,
        reset: false,
        emails: [email],
        errors: [],
      });
      storedRemoteIds.push(...one.storedRemoteIds);
      untracked += 1 - one.storedRemoteIds.length;
    } catch (err) {
      errors.push({ remoteId: email.remoteId, message: `Message could not be stored: ${(err as Error).message}` });
    }
  }
  await deps.store.commitIncomingBatch({ ...commit, reset: false, emails: [], errors });
  return { stored: storedRemoteIds.length, failed: errors.length, untracked, storedRemoteIds };
}

/**
 * Every parsed message with its parties resolved and the facts its tracking decision rests on; the
 * decision itself is the commit's, which sees the batches stored before it (src/store/syncStore.ts).
 */
async function toIncomingEmails(
  context: MailboxSyncContext,
  parsed: { item: IncomingItem; message: EmailMessage }[],
  store: SyncStore,
): Promise<IncomingEmail[]> {
  if (parsed.length === 0) return [];
  const addresses = parsed.flatMap(({ message: m }) => [...m.from, ...m.to, ...m.cc, ...m.bcc].flatMap((a) => (a.address ? [a.address] : [])));
  const records = await store.resolveAddresses(addresses);

  return parsed.map(({ item, message }) => {
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
    const receivedAt = item.kind === 'error' ? null : item.receivedAt;
    const outgoing = parties.some((p) => p.role === 'from' && p.address?.toLowerCase() === context.emailAddress.toLowerCase());
    return { remoteId: item.remoteId, message, receivedAt, parties, direction: outgoing ? 'outgoing' : 'incoming', tracking: trackingFacts(context, message, receivedAt, parties, outgoing) };
  });
}

// For a message the mailbox sent, the recipient the option judges it by: a customer record first.
const RECIPIENT_KIND_ORDER: CrmRecordType[] = ['contact', 'account', 'lead', 'user', 'queue'];

function trackingFacts(context: MailboxSyncContext, message: EmailMessage, receivedAt: Date | null, parties: StoredParty[], outgoing: boolean): EmailTrackingFacts {
  const { tokenPrefixes, ownDomains, createContactsForUnknownSenders } = context.tracking;
  const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();
  // The token in a message this mailbox receives is its owner's: the owner's address, and the
  // organisation's domains, are on every such email and prove nothing. Another CRM user does.
  const own = (address: string) => address.toLowerCase() === context.emailAddress.toLowerCase() || ownDomains.includes(domainOf(address));
  const addressed = parties.filter((p): p is StoredParty & { address: string } => p.address !== null);
  // The first sender with an address: one named without an address resolves to no record.
  const sender = addressed.find((p) => p.role === 'from');
  const recipientKinds = new Set(addressed.filter((p) => p.role !== 'from').flatMap((p) => (p.record ? [p.record.type] : [])));
  const senderRecordType = outgoing ? (RECIPIENT_KIND_ORDER.find((k) => recipientKinds.has(k)) ?? null) : (sender?.record?.type ?? null);
  const unknown = !outgoing && createContactsForUnknownSenders && sender && !sender.record && !ownDomains.includes(domainOf(sender.address));
  return {
    senderRecordType,
    unknownSender: unknown ? { address: sender.address, name: sender.name } : null,
    correlation: {
      messageId: message.messageId,
      subject: message.subject,
      inReplyTo: message.inReplyTo,
      references: message.references,
      tokens: findTrackingTokens(message.subject, tokenPrefixes),
      normalisedSubject: normaliseSubject(message.subject, tokenPrefixes),
      participants: [...new Set(addressed.map((p) => p.address.toLowerCase()))],
      ownAddresses: [...new Set(addressed.filter((p) => own(p.address)).map((p) => p.address.toLowerCase()))],
      at: message.sentAt ?? receivedAt ?? new Date(),
    },
  };
}
