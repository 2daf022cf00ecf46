import { ImapFlow } from 'imapflow';
import type { OutgoingParty } from '../store/outgoingStore';
import { DEFAULT_SENT_FOLDER, type MailServerEndpoint } from './mailSource';
import type { SentCopy, SentFolder } from './mailSender';
import { imapClientOptions, specialUseSentFolder } from './imapMailSource';
import { composeMime } from './mime/compose';

const SEEN = ['\\Seen'];
const MULTIAPPEND_MAX_MESSAGES = 50;
const MULTIAPPEND_MAX_BYTES = 8 * 1024 * 1024;

/** imapflow's internal command runner (ImapFlow#exec), which its own commands use. */
interface ImapCommandRunner {
  exec(command: string, attributes: unknown[]): Promise<{ next(): void }>;
}

/** The server answered the command NO or BAD: the connection is fine, the command was refused. */
function refusedByServer(err: unknown): boolean {
  const status = (err as { responseStatus?: string } | null)?.responseStatus;
  return status === 'NO' || status === 'BAD';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 9051 date-time, in UTC: " 1-Dec-2026 16:36:02 +0000". */
function imapDateTime(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${String(date.getUTCDate()).padStart(2, ' ')}-${MONTHS[date.getUTCMonth()]}-${date.getUTCFullYear()} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`;
}

/** The Sent folder over IMAP: one connection, the folder opened once. */
export class ImapSentFolder implements SentFolder {
  private constructor(
    private readonly client: ImapFlow,
    private readonly path: string,
  ) {}

  /** Connects and opens the folder: `folder`, else the one the server marks \Sent, else "Sent", created when missing. */
  static async open(endpoint: MailServerEndpoint, folder: string | null): Promise<ImapSentFolder> {
    const client = new ImapFlow(imapClientOptions(endpoint));
    client.on('error', () => undefined);
    try {
      await client.connect();
      const path = folder ?? (await specialUseSentFolder(client)) ?? DEFAULT_SENT_FOLDER;
      try {
        await client.mailboxOpen(path);
      } catch (err) {
        if (!(err as { mailboxMissing?: boolean }).mailboxMissing) throw err;
        await client.mailboxCreate(path);
        await client.mailboxOpen(path);
      }
      return new ImapSentFolder(client, path);
    } catch (err) {
      client.close();
      throw err;
    }
  }

  async find(messageIds: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    if (messageIds.length === 0) return found;
    const wanted = new Set(messageIds);
    const queries = messageIds.map((id) => ({ header: { 'message-id': id } }));
    const uids = await this.client.search(queries.length === 1 ? queries[0] : { or: queries }, { uid: true });
    if (!uids || uids.length === 0) return found;
    // SEARCH matches substrings: the envelope says which Message-ID each hit really has.
    for await (const message of this.client.fetch(uids, { envelope: true }, { uid: true })) {
      const id = message.envelope?.messageId;
      if (id && wanted.has(id)) found.add(id);
    }
    return found;
  }

  /**
   * One MULTIAPPEND (RFC 3502) per group where the server offers it: the server stores the group
   * in one transaction, several times cheaper than an APPEND each. A group the server refuses is
   * saved one by one, so the refusal is the one message's (MULTIAPPEND saves none of a group it refuses).
   */
  async save(copies: SentCopy[], from: OutgoingParty, onSaved?: (count: number) => void): Promise<void> {
    // imapflow encodes folder names and binary content for its own APPEND only.
    const multi = this.client.capabilities.has('MULTIAPPEND') && /^[\x20-\x7e]+$/.test(this.path);
    let group: { raw: Buffer; date: Date }[] = [];
    let bytes = 0;
    const flush = async () => {
      if (group.length > 1) {
        try {
          await this.appendMany(group);
        } catch (err) {
          if (!refusedByServer(err)) throw err;
          for (const one of group) await this.client.append(this.path, one.raw, SEEN, one.date);
        }
      } else if (group.length === 1) {
        await this.client.append(this.path, group[0].raw, SEEN, group[0].date);
      }
      if (group.length > 0) onSaved?.(group.length);
      group = [];
      bytes = 0;
    };
    for (const { email, asSent } of copies) {
      const raw = asSent ?? (await composeMime(email, from, { keepBcc: true }));
      if (!multi || raw.includes(0)) {
        await this.client.append(this.path, raw, SEEN, email.date);
        onSaved?.(1);
        continue;
      }
      if (group.length >= MULTIAPPEND_MAX_MESSAGES || bytes + raw.length > MULTIAPPEND_MAX_BYTES) await flush();
      group.push({ raw, date: email.date });
      bytes += raw.length;
    }
    await flush();
  }

  /** imapflow has no MULTIAPPEND: the command goes through its command runner, built as its own APPEND builds one message. */
  private async appendMany(group: { raw: Buffer; date: Date }[]): Promise<void> {
    const attributes: unknown[] = [{ type: 'ATOM', value: this.path }];
    for (const { raw, date } of group) {
      attributes.push(
        SEEN.map((flag) => ({ type: 'ATOM', value: flag })),
        { type: 'STRING', value: imapDateTime(date) },
        { type: 'LITERAL', value: raw },
      );
    }
    const response = await (this.client as unknown as ImapCommandRunner).exec('APPEND', attributes);
    response.next();
  }

  async close(): Promise<void> {
    await this.client.logout().catch(() => this.client.close());
  }
}
