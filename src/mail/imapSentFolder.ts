import { ImapFlow } from 'imapflow';
import type { OutgoingEmail, OutgoingParty } from '../store/outgoingStore';
import { DEFAULT_SENT_FOLDER, type MailServerEndpoint } from './mailSource';
import type { SentFolder } from './mailSender';
import { imapClientOptions, specialUseSentFolder } from './imapMailSource';
import { composeMime } from './mime/compose';

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

  async save(email: OutgoingEmail, from: OutgoingParty, asSent?: Buffer): Promise<void> {
    const raw = asSent ?? (await composeMime(email, from, { keepBcc: true }));
    await this.client.append(this.path, raw, ['\\Seen'], email.date);
  }

  async close(): Promise<void> {
    await this.client.logout().catch(() => this.client.close());
  }
}
