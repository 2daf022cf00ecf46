import type { IncomingBatch, IncomingItem, MailServerEndpoint, MailSource, PullOptions, SourceCursor } from '../mailSource';
import { cutIntoBatches } from '../../policy/batching';
import { Pop3Client } from './pop3Client';

/** POP3's one folder. */
export const POP3_FOLDER = 'INBOX';

/**
 * A POP3 maildrop's position is the set of UIDLs already seen (the store's `seen_remote_ids`,
 * committed with the items); the cursor only records how many messages the last listing held.
 */
export interface Pop3Cursor extends SourceCursor {
  protocol: 'pop3';
  listed: number;
}

export interface Pop3SourceOptions {
  /** Delete a message from the server once the CRM committed it (queue mailboxes). */
  deleteAfterProcessing: boolean;
}

/** The sentence for a folder other than INBOX on a POP3 mailbox: a mailbox-level permanent error. */
export function pop3FolderMessage(folder: string): string {
  return `POP3 serves one folder, ${POP3_FOLDER}: "${folder}" cannot be synced; set the mailbox's folders to ${POP3_FOLDER}`;
}

const RECEIVED_DATE = /^Received:[^]*?;\s*([^\r\n]+(?:\r?\n[ \t][^\r\n]*)*)/im;

/**
 * When the server received the message: the date of its first (topmost, so latest) Received
 * field, POP3 having no INTERNALDATE; null when there is none or it does not parse.
 */
export function receivedDate(raw: Buffer): Date | null {
  const end = raw.indexOf('\r\n\r\n');
  const header = raw.subarray(0, end < 0 ? Math.min(raw.length, 65536) : end).toString('latin1');
  const m = RECEIVED_DATE.exec(header);
  if (!m) return null;
  const d = new Date(m[1].replace(/\s+/g, ' ').replace(/\s*\([^)]*\)\s*$/, '').trim());
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * Incoming mail over POP3 (one folder, INBOX). Each pull lists UIDLs, asks the store which it has
 * seen, and downloads (RETR) the others in batches, the next batch while the last is handed on.
 * Mail stays on the server unless `deleteAfterProcessing`: then a message is DELEd once its
 * commit is in (`committed`), and at the start of a pull for stored ones a session ended before
 * QUIT left behind; the server deletes them at QUIT (`close`), and only then.
 */
export class Pop3MailSource implements MailSource {
  private client: Pop3Client | undefined;
  /** The last listing's message numbers by UIDL: DELE needs the number, valid for this session. */
  private numbers = new Map<string, number>();

  constructor(
    private readonly endpoint: MailServerEndpoint,
    private readonly options: Pop3SourceOptions,
  ) {}

  async connect(): Promise<void> {
    this.client = await Pop3Client.open(this.endpoint);
    await this.client.login(this.endpoint.username, this.endpoint.password);
  }

  /** POP3 has one folder, the maildrop: no Sent folder to track. */
  async findSentFolder(): Promise<string | null> {
    return null;
  }

  /** QUIT: the server carries out this session's DELEs. A session that cannot QUIT deletes nothing. */
  async close(): Promise<void> {
    await this.client?.quit().catch(() => undefined);
  }

  async committed(_folder: string, storedRemoteIds: string[]): Promise<void> {
    if (this.options.deleteAfterProcessing) await this.delete(storedRemoteIds);
  }

  async *pull(folder: string, _cursor: SourceCursor | null, options: PullOptions): AsyncIterable<IncomingBatch> {
    if (folder.toUpperCase() !== POP3_FOLDER) throw Object.assign(new Error(pop3FolderMessage(folder)), { errorClass: 'permanent' });
    const client = this.session();
    const listing = await client.uidl();
    this.numbers = new Map(listing.map((m) => [m.uidl, m.number]));
    const uidls = listing.map((m) => m.uidl);
    const known = await options.seen.lookup(uidls);
    if (this.options.deleteAfterProcessing) await this.delete(uidls.filter((u) => known.stored.has(u)));
    const fresh = listing.filter((m) => !known.seen.has(m.uidl));
    const cursor: Pop3Cursor = { protocol: 'pop3', listed: listing.length };
    // Seen UIDLs the server no longer lists are forgotten with the first batch.
    const listed = known.unlisted > 0 ? uidls : undefined;
    if (fresh.length === 0) {
      if (listed) yield { items: [], cursor, skipped: 0, reset: false, remaining: 0, seen: [], listed };
      return;
    }
    const sizes = await client.list();
    // A message over the size limit is not downloaded: it weighs nothing in its batch.
    const batches = cutIntoBatches(
      fresh,
      (m) => {
        const size = sizes.get(m.number) ?? 0;
        return size > options.maxMessageBytes ? 0 : size;
      },
      options,
    );

    const download = async (messages: typeof fresh, remaining: number): Promise<IncomingBatch> => {
      const items: IncomingItem[] = [];
      let skipped = 0;
      for (const { number, uidl } of messages) {
        const size = sizes.get(number) ?? 0;
        if (size > options.maxMessageBytes) {
          items.push({ kind: 'error', remoteId: uidl, message: `Message is ${size} bytes, over the profile's limit of ${options.maxMessageBytes} bytes` });
          continue;
        }
        const raw = await client.retr(number);
        const receivedAt = receivedDate(raw);
        if (options.processEmailFrom && receivedAt && receivedAt < options.processEmailFrom) skipped++;
        else items.push({ kind: 'mime', remoteId: uidl, raw, receivedAt });
      }
      return { items, cursor, skipped, reset: false, remaining, seen: messages.map((m) => m.uidl) };
    };

    let left = fresh.length;
    let next: Promise<IncomingBatch> | undefined = download(batches[0], (left -= batches[0].length));
    try {
      for (let i = 0; i < batches.length; i++) {
        const batch: IncomingBatch = await next!;
        // The next batch downloads while this one is parsed and stored.
        next = i + 1 < batches.length ? download(batches[i + 1], (left -= batches[i + 1].length)) : undefined;
        next?.catch(() => undefined);
        yield i === 0 && listed ? { ...batch, listed } : batch;
      }
    } finally {
      // Stopped early (cycle budget, a failed commit): the download under way is not stored.
      await next?.catch(() => undefined);
    }
  }

  private session(): Pop3Client {
    if (!this.client) throw new Error('Pop3MailSource: pull before connect');
    return this.client;
  }

  private async delete(uidls: string[]): Promise<void> {
    const client = this.session();
    for (const uidl of uidls) {
      const number = this.numbers.get(uidl);
      if (number !== undefined) await client.dele(number);
    }
  }
}
