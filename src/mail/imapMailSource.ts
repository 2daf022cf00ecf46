import { ImapFlow, type FetchMessageObject, type ImapFlowOptions, type SearchObject } from 'imapflow';
import { batchIsFull } from '../policy/batching';
import type { IncomingBatch, IncomingItem, MailServerEndpoint, MailSource, PullOptions, SourceCursor } from './mailSource';

export interface ImapFolderCursor extends SourceCursor {
  uidValidity: string;
  lastUid: number;
  /** UIDNEXT when the folder was last read to the end: equal to the server's means nothing new. */
  uidNext: number;
  /** HIGHESTMODSEQ when the server has CONDSTORE, else null. */
  highestModseq: string | null;
}

const DAY_MS = 24 * 3600 * 1000;
/** Batches read ahead of the one being stored: keeps the link busy while memory stays bounded. */
const READ_AHEAD_BATCHES = 4;

function toDate(v: Date | string | undefined): Date | null {
  if (v === undefined) return null;
  const d = v instanceof Date ? v : new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * The UTC midnight a whole day before `from`'s day: SEARCH compares dates by the server's day, in
 * its own time zone (UTC-12 to UTC+14), so what is BEFORE it arrived before `from` wherever the
 * server is. Messages of the two days around `from` are fetched and checked exactly.
 */
export function surelyBefore(from: Date): Date {
  const day = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  return new Date(day - DAY_MS);
}

function oversized(remoteId: string, size: number, limit: number): IncomingItem {
  return { kind: 'error', remoteId, message: `Message is ${size} bytes, over the profile's limit of ${limit} bytes` };
}

/** `lo:*` without the UIDs in `excluded` (sorted): the FETCH set of everything new but those. */
export function uidRangeExcept(lo: number, excluded: number[]): string {
  const parts: string[] = [];
  let start = lo;
  for (const uid of excluded) {
    if (uid > start) parts.push(uid - 1 === start ? String(start) : `${start}:${uid - 1}`);
    start = Math.max(start, uid + 1);
  }
  parts.push(`${start}:*`);
  return parts.join(',');
}

function asImapCursor(c: SourceCursor | null): ImapFolderCursor | null {
  if (!c || typeof c.uidValidity !== 'string' || typeof c.lastUid !== 'number') return null;
  return c as ImapFolderCursor;
}

/** How the product talks IMAP to a server, for sync and for Test & Enable alike. */
export function imapClientOptions(endpoint: MailServerEndpoint): ImapFlowOptions {
  return {
    host: endpoint.host,
    port: endpoint.port,
    secure: endpoint.security === 'tls',
    doSTARTTLS: endpoint.security === 'starttls' ? true : endpoint.security === 'none' ? false : undefined,
    auth: { user: endpoint.username, pass: endpoint.password },
    logger: false,
    disableAutoIdle: true,
    connectionTimeout: endpoint.connectionTimeoutMs,
    greetingTimeout: endpoint.connectionTimeoutMs,
    // A server that stops answering mid-way fails like one that never starts, so its slot is freed;
    // a little over the greeting time-out, so a silent server is reported as GREETING_TIMEOUT.
    socketTimeout: endpoint.connectionTimeoutMs + 250,
    clientInfo: { name: 'crm-mail-sync' },
  };
}

/** The folder the server marks \Sent (RFC 6154 SPECIAL-USE), or null. */
export async function specialUseSentFolder(client: ImapFlow): Promise<string | null> {
  return (await client.list()).find((f) => f.specialUse === '\\Sent')?.path ?? null;
}

/** `1,2,3,7,9,10` -> `1:3,7,9:10`: keeps FETCH commands short. */
export function toUidSet(sortedUids: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < sortedUids.length; i++) {
    const start = sortedUids[i];
    while (i + 1 < sortedUids.length && sortedUids[i + 1] === sortedUids[i] + 1) i++;
    parts.push(start === sortedUids[i] ? String(start) : `${start}:${sortedUids[i]}`);
  }
  return parts.join(',');
}

/**
 * Incoming mail over IMAP. An idle folder costs one EXAMINE after login: its UIDNEXT and
 * UIDVALIDITY answer whether anything arrived, whatever the folder's size.
 */
export class ImapMailSource implements MailSource {
  private readonly client: ImapFlow;
  private readonly closed: Promise<void>;

  constructor(endpoint: MailServerEndpoint) {
    this.client = new ImapFlow(imapClientOptions(endpoint));
    // imapflow also emits connection failures as events, which would crash the worker unheard;
    // the command that was running rejects with its own error, which is what the caller sees.
    this.client.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.client.once('close', () => resolve()));
  }

  async connect(): Promise<void> {
    await this.client.connect();
  }

  /** Resolves once the socket is closed: the server's connection count has dropped by then. */
  async close(): Promise<void> {
    if (this.client.usable) {
      await this.client.logout().catch(() => this.client.close());
    } else {
      this.client.close();
    }
    await Promise.race([this.closed, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
  }

  async findSentFolder(): Promise<string | null> {
    return specialUseSentFolder(this.client);
  }

  async *pull(folder: string, cursor: SourceCursor | null, options: PullOptions): AsyncIterable<IncomingBatch> {
    this.skipListing(folder);
    const mailbox = await this.client.mailboxOpen(folder, { readOnly: true });
    const uidValidity = mailbox.uidValidity.toString();
    const highestModseq = mailbox.highestModseq !== undefined ? mailbox.highestModseq.toString() : null;
    const previous = asImapCursor(cursor);
    const reset = previous !== null && previous.uidValidity !== uidValidity;
    const lastUid = previous && !reset ? previous.lastUid : 0;
    const finalCursor: ImapFolderCursor = { uidValidity, lastUid: Math.max(lastUid, mailbox.uidNext - 1), uidNext: mailbox.uidNext, highestModseq };

    if (!reset && previous && previous.uidNext >= mailbox.uidNext) {
      if (previous.highestModseq !== highestModseq) {
        yield { items: [], cursor: { ...previous, highestModseq }, skipped: 0, reset: false, remaining: 0 };
      }
      return;
    }
    if (mailbox.exists === 0) {
      yield { items: [], cursor: finalCursor, skipped: 0, reset, remaining: 0 };
      return;
    }

    const { excluded, exceptions } = await this.findExceptions(uidValidity, lastUid, options);
    const stream = new BatchStream(this.client, { uidValidity, lastUid, finalCursor, reset, excluded, exceptions, options });
    try {
      yield* stream.batches();
    } finally {
      // Stopped before the FETCH ended (cycle budget, a failed commit): imapflow would read the
      // rest of the answer before any other command, LOGOUT included, so the socket is closed instead.
      if (!stream.finished) this.client.close();
      await stream.stopped();
    }
  }

  /**
   * imapflow runs LIST and LSUB (two round trips) before opening a folder it has not listed, for
   * its delimiter, special use and subscription, none of which the sync reads; EXAMINE fails alike
   * for a folder that does not exist. Its folder cache is not typed: should it change, the listing
   * simply comes back.
   */
  private skipListing(folder: string): void {
    const listed = (this.client as unknown as { folders?: unknown }).folders;
    if (listed instanceof Map && !listed.has(folder)) listed.set(folder, { path: folder });
  }

  /**
   * The new messages not to download, by UID: those that arrived before "process email from", and
   * those over the size limit. One UID SEARCH, usually answered with nothing; a second one to tell
   * older from larger only when both are looked for and some turn up, and a FETCH of the sizes of
   * the larger ones only (for their error message).
   */
  private async findExceptions(
    uidValidity: string,
    lastUid: number,
    options: PullOptions,
  ): Promise<{ excluded: number[]; exceptions: Map<number, IncomingItem | 'skip'> }> {
    const uid = `${lastUid + 1}:*`;
    const larger = { larger: options.maxMessageBytes };
    const before = options.processEmailFrom ? { before: surelyBefore(options.processEmailFrom) } : null;
    const found = await this.searchUids(before ? { uid, or: [larger, before] } : { uid, ...larger }, lastUid);
    const older = before && found.length > 0 ? new Set(await this.searchUids({ uid: toUidSet(found), ...before }, lastUid)) : new Set<number>();
    const exceptions = new Map<number, IncomingItem | 'skip'>();
    for (const u of older) exceptions.set(u, 'skip');
    const tooLarge = found.filter((u) => !older.has(u));
    if (tooLarge.length > 0) {
      // One that vanished since the SEARCH is not listed here: nothing to record for it.
      for (const msg of await this.client.fetchAll(toUidSet(tooLarge), { uid: true, size: true }, { uid: true })) {
        if (msg.uid > lastUid && !older.has(msg.uid)) exceptions.set(msg.uid, oversized(`${uidValidity}:${msg.uid}`, msg.size ?? 0, options.maxMessageBytes));
      }
    }
    return { excluded: found, exceptions };
  }

  private async searchUids(query: SearchObject, lastUid: number): Promise<number[]> {
    const uids = await this.client.search(query, { uid: true });
    // `N:*` always matches the highest message even when its UID is below N, hence the filter.
    return (uids || []).filter((u) => u > lastUid).sort((a, b) => a - b);
  }
}

interface StreamPlan {
  uidValidity: string;
  lastUid: number;
  finalCursor: ImapFolderCursor;
  reset: boolean;
  /** UIDs not to download (sorted): the SEARCH's answer. */
  excluded: number[];
  /** What each excluded message still present becomes: an item-level error, or 'skip' for one older than "process email from". */
  exceptions: Map<number, IncomingItem | 'skip'>;
  options: PullOptions;
}

interface OpenBatch {
  items: IncomingItem[];
  skipped: number;
  /** Highest UID covered: everything new up to it is in this batch or an earlier one. */
  lastUid: number;
  /** Messages in the folder after the last one covered. */
  remaining: number;
  /** The raw messages' bytes. */
  bytes: number;
}

/**
 * One `UID FETCH` of every new message but the exceptions, read as it arrives and cut into
 * batches. A reader drains imapflow's stream without waiting for the consumer (up to
 * READ_AHEAD_BATCHES ahead), so the server keeps sending while earlier batches are parsed and stored.
 */
class BatchStream {
  /** The FETCH ran to its end: the connection is free for the next command. */
  finished = false;
  private readonly ready: IncomingBatch[] = [];
  /** The exceptions by UID, and the first not yet in a batch. */
  private readonly exceptions: [number, IncomingItem | 'skip'][];
  private nextException = 0;
  private failure: unknown;
  private wakeConsumer?: () => void;
  private wakeReader?: () => void;
  private abandoned = false;
  /** The reader has stopped, at the end or by failure or abandonment. */
  private done = false;
  private first = true;
  private readonly reading: Promise<void>;

  constructor(
    private readonly client: ImapFlow,
    private readonly plan: StreamPlan,
  ) {
    this.exceptions = [...plan.exceptions].sort((a, b) => a[0] - b[0]);
    this.reading = this.read()
      .catch((err: unknown) => {
        this.failure = err;
      })
      .finally(() => {
        this.done = true;
        this.wakeConsumer?.();
      });
  }

  async *batches(): AsyncIterable<IncomingBatch> {
    try {
      for (;;) {
        const batch = this.ready.shift();
        if (batch) {
          this.wakeReader?.();
          yield batch;
          continue;
        }
        if (this.failure !== undefined) throw this.failure;
        if (this.done) return;
        await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
        this.wakeConsumer = undefined;
      }
    } finally {
      this.abandoned = true;
      this.wakeReader?.();
    }
  }

  /** Settles once the reader has let go of the connection. */
  async stopped(): Promise<void> {
    await this.reading;
  }

  private async read(): Promise<void> {
    const { lastUid, excluded, options, finalCursor } = this.plan;
    const range = uidRangeExcept(lastUid + 1, excluded);
    const notWanted = new Set(excluded);
    let open = this.newBatch(lastUid);
    let full: OpenBatch | null = null;
    let highestUid = lastUid;
    try {
      for await (const msg of this.client.fetch(range, { uid: true, size: true, internalDate: true, source: true }, { uid: true })) {
        if (this.abandoned) return;
        // `N:*` always matches the highest message even when its UID is below N; a row without the
        // message is an unsolicited flag update. Servers answer in UID order; one that does not still
        // has every message stored, in a later batch.
        if (!msg.source || msg.uid <= lastUid || msg.uid === highestUid || notWanted.has(msg.uid)) continue;
        if (full) {
          await this.publish(full);
          if (this.abandoned) return;
          full = null;
        }
        highestUid = Math.max(highestUid, msg.uid);
        this.takeExceptionsBelow(open, msg.uid);
        this.add(open, msg, msg.source);
        open.lastUid = Math.max(open.lastUid, msg.uid);
        open.remaining = Math.max(0, (this.client.mailbox ? this.client.mailbox.exists : msg.seq) - msg.seq);
        if (batchIsFull(open.items.length + open.skipped, open.bytes, options)) {
          // Held until the next message arrives, so the batch that ends the folder carries its final cursor.
          full = open;
          open = this.newBatch(highestUid);
        }
      }
    } catch (err) {
      if (this.abandoned) return;
      throw err;
    }
    this.finished = true;
    this.takeExceptionsBelow(open, Number.POSITIVE_INFINITY);
    const last = full && open.items.length === 0 && open.skipped === 0 ? full : open;
    if (last !== full && full) await this.publish(full);
    if (this.abandoned) return;
    // Messages that arrived after EXAMINE may have come with the FETCH: the cursor covers them too.
    const cursor: ImapFolderCursor =
      highestUid > finalCursor.lastUid ? { ...finalCursor, lastUid: highestUid, uidNext: highestUid + 1 } : finalCursor;
    await this.publish({ ...last, remaining: 0 }, cursor);
  }

  private newBatch(lastUid: number): OpenBatch {
    return { items: [], skipped: 0, lastUid, remaining: 0, bytes: 0 };
  }

  private add(batch: OpenBatch, msg: FetchMessageObject, source: Buffer): void {
    const { uidValidity, options } = this.plan;
    const remoteId = `${uidValidity}:${msg.uid}`;
    const receivedAt = toDate(msg.internalDate);
    if (options.processEmailFrom && receivedAt && receivedAt < options.processEmailFrom) batch.skipped++;
    else if ((msg.size ?? 0) > options.maxMessageBytes) {
      // The SEARCH found the large ones; this covers a server whose SEARCH LARGER disagrees with its sizes.
      batch.items.push(oversized(remoteId, msg.size ?? 0, options.maxMessageBytes));
    } else {
      batch.items.push({ kind: 'mime', remoteId, raw: source, receivedAt });
      batch.bytes += source.length;
    }
  }

  /** Exceptions below `uid` belong to the batch whose cursor passes them. */
  private takeExceptionsBelow(batch: OpenBatch, uid: number): void {
    while (this.nextException < this.exceptions.length && this.exceptions[this.nextException][0] < uid) {
      const [exceptionUid, item] = this.exceptions[this.nextException++];
      if (item === 'skip') batch.skipped++;
      else batch.items.push(item);
      batch.lastUid = Math.max(batch.lastUid, exceptionUid);
    }
  }

  /** Hands a batch to the consumer; waits while READ_AHEAD_BATCHES are already waiting. */
  private async publish(batch: OpenBatch, cursor?: ImapFolderCursor): Promise<void> {
    const { uidValidity, reset } = this.plan;
    this.ready.push({
      items: batch.items,
      skipped: batch.skipped,
      cursor: cursor ?? { uidValidity, lastUid: batch.lastUid, uidNext: batch.lastUid + 1, highestModseq: null },
      reset: reset && this.first,
      remaining: batch.remaining,
    });
    this.first = false;
    this.wakeConsumer?.();
    while (this.ready.length >= READ_AHEAD_BATCHES && !this.abandoned) {
      await new Promise<void>((resolve) => (this.wakeReader = resolve));
      this.wakeReader = undefined;
    }
  }
}
