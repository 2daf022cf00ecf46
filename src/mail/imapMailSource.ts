import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { IncomingBatch, IncomingItem, MailServerEndpoint, MailSource, PullOptions, SourceCursor } from './mailSource';

export interface ImapFolderCursor extends SourceCursor {
  uidValidity: string;
  lastUid: number;
  /** UIDNEXT when the folder was last read to the end: equal to the server's means nothing new. */
  uidNext: number;
  /** HIGHESTMODSEQ when the server has CONDSTORE, else null. */
  highestModseq: string | null;
}

interface NewMessage {
  uid: number;
  size: number;
  internalDate: Date | null;
}

function toDate(v: Date | string | undefined): Date | null {
  if (v === undefined) return null;
  const d = v instanceof Date ? v : new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
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

  async *pull(folder: string, cursor: SourceCursor | null, options: PullOptions): AsyncIterable<IncomingBatch> {
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

    const fresh = await this.listNewMessages(lastUid);
    const wanted = (m: NewMessage) => !options.processEmailFrom || !m.internalDate || m.internalDate >= options.processEmailFrom;

    let done = 0;
    let pending = fresh.length > 0 ? this.fetchSlice(uidValidity, fresh.slice(0, options.batchSize), options, wanted) : undefined;
    // A consumer that stops early (cycle budget) leaves a read ahead in flight: settle it quietly.
    pending?.catch(() => undefined);
    try {
      for (let start = 0; start < fresh.length; start += options.batchSize) {
        const slice = fresh.slice(start, start + options.batchSize);
        const { items, skipped } = await pending!;
        // Read the next slice while the caller stores this one.
        const next = fresh.slice(start + options.batchSize, start + 2 * options.batchSize);
        pending = next.length > 0 ? this.fetchSlice(uidValidity, next, options, wanted) : undefined;
        pending?.catch(() => undefined);
        done += slice.length;
        const isLast = done >= fresh.length;
        const batchCursor: ImapFolderCursor = isLast
          ? finalCursor
          : { uidValidity, lastUid: slice[slice.length - 1].uid, uidNext: slice[slice.length - 1].uid + 1, highestModseq: null };
        yield { items, cursor: batchCursor, skipped, reset: reset && start === 0, remaining: fresh.length - done };
      }
    } finally {
      await pending?.catch(() => undefined);
    }
    if (fresh.length === 0) {
      yield { items: [], cursor: finalCursor, skipped: 0, reset, remaining: 0 };
    }
  }

  /** UIDs above `lastUid` with size and arrival date: one FETCH, no message bodies. */
  private async listNewMessages(lastUid: number): Promise<NewMessage[]> {
    const listed: NewMessage[] = [];
    // `N:*` always matches the highest message even when its UID is below N, hence the filter.
    for await (const msg of this.client.fetch(`${lastUid + 1}:*`, { uid: true, size: true, internalDate: true }, { uid: true })) {
      if (msg.uid > lastUid) listed.push({ uid: msg.uid, size: msg.size ?? 0, internalDate: toDate(msg.internalDate) });
    }
    return listed.sort((a, b) => a.uid - b.uid);
  }

  private async fetchSlice(
    uidValidity: string,
    slice: NewMessage[],
    options: PullOptions,
    wanted: (m: NewMessage) => boolean,
  ): Promise<{ items: IncomingItem[]; skipped: number }> {
    const remoteId = (uid: number) => `${uidValidity}:${uid}`;
    const toDownload = slice.filter((m) => wanted(m) && m.size <= options.maxMessageBytes);
    const sources = new Map<number, Buffer>();
    if (toDownload.length > 0) {
      const fetched = await this.client.fetchAll(toUidSet(toDownload.map((m) => m.uid)), { uid: true, source: true }, { uid: true });
      for (const msg of fetched) if (msg.source) sources.set(msg.uid, msg.source);
    }
    const items: IncomingItem[] = [];
    let skipped = 0;
    for (const m of slice) {
      const raw = sources.get(m.uid);
      if (!wanted(m)) skipped++;
      else if (m.size > options.maxMessageBytes) {
        items.push({ kind: 'error', remoteId: remoteId(m.uid), message: `Message is ${m.size} bytes, over the profile's limit of ${options.maxMessageBytes} bytes` });
      } else if (raw) {
        items.push({ kind: 'mime', remoteId: remoteId(m.uid), raw, receivedAt: m.internalDate });
      }
      // A message neither skipped nor fetched was expunged after it was listed: nothing to store.
    }
    return { items, skipped };
  }
}
