import type { Message } from '@microsoft/microsoft-graph-types';
import type { IncomingBatch, IncomingItem, MailSource, PullOptions, SourceCursor } from '../mailSource';
import { emailFromGraph, MESSAGE_SELECT, receivedAtOf, referencesInlineImages, type GraphAttachment } from './graphMessage';
import { GraphRequestError, type GraphSession } from './graphSession';

/**
 * Where a folder's delta round stands: `nextLink` while a round is under way (a killed worker
 * resumes there), `deltaLink` once it ended (the next round starts there).
 */
export interface GraphFolderCursor extends SourceCursor {
  nextLink: string | null;
  deltaLink: string | null;
}

/** Graph's well-known folder names for the names mailboxes use (compared lower-case). */
const WELL_KNOWN_FOLDERS: Record<string, string> = {
  inbox: 'inbox',
  sent: 'sentitems',
  'sent items': 'sentitems',
  'sent mail': 'sentitems',
  sentitems: 'sentitems',
  drafts: 'drafts',
  trash: 'deleteditems',
  'deleted items': 'deleteditems',
  deleteditems: 'deleteditems',
  junk: 'junkemail',
  spam: 'junkemail',
  'junk email': 'junkemail',
  'junk e-mail': 'junkemail',
  junkemail: 'junkemail',
  archive: 'archive',
  outbox: 'outbox',
};

/** The Sent folder as Exchange names it. */
export const EXCHANGE_SENT_FOLDER = 'Sent Items';

/** The well-known name Graph addresses `folder` by, or null for a folder of the user's own (found by its display name). */
export function wellKnownFolder(folder: string): string | null {
  return WELL_KNOWN_FOLDERS[folder.trim().toLowerCase()] ?? null;
}

function asGraphCursor(cursor: SourceCursor | null): GraphFolderCursor | null {
  if (!cursor) return null;
  const nextLink = typeof cursor.nextLink === 'string' ? cursor.nextLink : null;
  const deltaLink = typeof cursor.deltaLink === 'string' ? cursor.deltaLink : null;
  return nextLink || deltaLink ? { nextLink, deltaLink } : null;
}

type DeltaItem = Message & { '@removed'?: { reason?: string } };

interface DeltaPage {
  value?: DeltaItem[];
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
}

interface Collection<T> {
  value?: T[];
  '@odata.nextLink'?: string;
}

/** A page turned into what the engine stores; `next` is the link to read after it, if the round goes on. */
interface PreparedPage {
  batch: IncomingBatch;
  next: string | null;
}

/**
 * Incoming mail of one Exchange Online mailbox: per folder, Graph's message delta, one batch per
 * page (graph.md §2). Ids are immutable, so a message keeps its id across moves and a link stays
 * valid. An item listed twice in a page is taken once (the later listing); one already stored in
 * the folder is recognised by the store.
 */
export class GraphMailSource implements MailSource {
  private readonly folderPaths = new Map<string, string>();
  /** A page read ahead of the one being stored; settled before the source closes. */
  private readAhead: Promise<unknown> = Promise.resolve();

  constructor(private readonly session: GraphSession) {}

  async connect(): Promise<void> {
    await this.session.checkToken();
  }

  async findSentFolder(): Promise<string | null> {
    return EXCHANGE_SENT_FOLDER;
  }

  async close(): Promise<void> {
    await this.readAhead.catch(() => undefined);
  }

  async *pull(folder: string, cursor: SourceCursor | null, options: PullOptions): AsyncIterable<IncomingBatch> {
    const prefer = [`IdType="ImmutableId"`, `odata.maxpagesize=${options.batchSize}`];
    const start = asGraphCursor(cursor);
    let link = start?.nextLink ?? start?.deltaLink ?? null;
    // A folder read from nothing while links of it may exist (the token was lost): they are checked again.
    let reset = false;
    let pending: Promise<PreparedPage> | null = null;
    for (;;) {
      let page: PreparedPage;
      try {
        page = await (pending ?? this.readPage(folder, link, reset, options, prefer));
      } catch (err) {
        // Graph forgot the round (410, SyncStateNotFound, resyncRequired; also mid-paging): the
        // folder is read again from the start and reconciled against what is stored.
        if (!(err instanceof GraphRequestError && err.syncStateLost) || link === null) throw err;
        link = null;
        reset = true;
        pending = null;
        continue;
      }
      reset = false;
      link = page.next;
      // The next page is asked for while this one is stored.
      pending = link === null ? null : this.readPage(folder, link, false, options, prefer);
      if (pending) {
        this.readAhead = pending;
        pending.catch(() => undefined);
      }
      yield page.batch;
      if (!pending) return;
    }
  }

  private async readPage(folder: string, link: string | null, reset: boolean, options: PullOptions, prefer: string[]): Promise<PreparedPage> {
    const url = link ?? `${await this.folderPath(folder)}/messages/delta?$select=${MESSAGE_SELECT.join(',')}`;
    const page = await this.session.request<DeltaPage>({ method: 'GET', url, prefer });
    const next = page['@odata.nextLink'] ?? null;
    const deltaLink = page['@odata.deltaLink'] ?? null;
    if (!next && !deltaLink) throw new Error(`Microsoft Graph ended a delta page of folder "${folder}" without a next or delta link`);

    // The same message may be listed more than once in a round (graph.md §2.2): the last listing counts.
    const latest = new Map<string, DeltaItem>();
    for (const item of page.value ?? []) {
      if (!item.id) continue;
      latest.delete(item.id);
      latest.set(item.id, item);
    }
    const items: IncomingItem[] = [];
    const removed: string[] = [];
    let skipped = 0;
    for (const [id, listed] of latest) {
      if (listed['@removed']) {
        removed.push(id);
        continue;
      }
      const message = await this.complete(listed, prefer);
      if (!message) continue;
      const receivedAt = receivedAtOf(message);
      if (options.processEmailFrom && receivedAt && receivedAt < options.processEmailFrom) {
        skipped++;
        continue;
      }
      items.push(await this.toItem(id, message, receivedAt, options.maxMessageBytes, prefer));
    }
    const cursor: GraphFolderCursor = next ? { nextLink: next, deltaLink: null } : { nextLink: null, deltaLink };
    return {
      // How many are still to come is not known: at least one more page while there is a next link.
      batch: { items, cursor, skipped, reset, remaining: next ? 1 : 0, removed },
      next,
    };
  }

  /**
   * The message with everything the CRM stores. A delta may list a changed message with only
   * what changed (graph.md §2.1): such a listing is read in full; one gone meanwhile is left to
   * the delta that reports its removal.
   */
  private async complete(listed: DeltaItem, prefer: string[]): Promise<Message | null> {
    if (listed.body !== undefined && listed.internetMessageId !== undefined) return listed;
    try {
      return await this.session.request<Message>({
        method: 'GET',
        url: `${this.session.userPath}/messages/${encodeURIComponent(listed.id!)}?$select=${MESSAGE_SELECT.join(',')}`,
        prefer,
      });
    } catch (err) {
      if (err instanceof GraphRequestError && err.statusCode === 404) return null;
      throw err;
    }
  }

  private async toItem(id: string, message: Message, receivedAt: Date | null, maxBytes: number, prefer: string[]): Promise<IncomingItem> {
    let attachments: GraphAttachment[] = [];
    if (message.hasAttachments || referencesInlineImages(message)) {
      const base = `${this.session.userPath}/messages/${encodeURIComponent(id)}/attachments`;
      // Sizes first, so a message over the profile's limit is not downloaded.
      const sizes = await this.session.request<Collection<{ size?: number | null }>>({ method: 'GET', url: `${base}?$select=id,size`, prefer });
      const size = Buffer.byteLength(message.body?.content ?? '') + (sizes.value ?? []).reduce((sum, a) => sum + (a.size ?? 0), 0);
      if (size > maxBytes) return { kind: 'error', remoteId: id, message: `Message is ${size} bytes, over the profile's limit of ${maxBytes} bytes` };
      attachments = await this.readAll<GraphAttachment>(base, prefer);
    }
    try {
      return { kind: 'email', remoteId: id, message: emailFromGraph(message, attachments), receivedAt };
    } catch (err) {
      return { kind: 'error', remoteId: id, message: `Message could not be read: ${(err as Error).message}` };
    }
  }

  private async readAll<T>(url: string, prefer: string[]): Promise<T[]> {
    const out: T[] = [];
    for (let next: string | undefined = url; next; ) {
      const page: Collection<T> = await this.session.request<Collection<T>>({ method: 'GET', url: next, prefer });
      out.push(...(page.value ?? []));
      next = page['@odata.nextLink'];
    }
    return out;
  }

  /** `/users/{user}/mailFolders/{well-known name or id}`; a folder of the user's own is found by its display-name path (`Projects/Acme`). */
  private async folderPath(folder: string): Promise<string> {
    const known = this.folderPaths.get(folder);
    if (known) return known;
    const wellKnown = wellKnownFolder(folder);
    let path = wellKnown ? `${this.session.userPath}/mailFolders/${wellKnown}` : null;
    let children = `${this.session.userPath}/mailFolders`;
    for (const name of wellKnown ? [] : folder.split('/').map((n) => n.trim().toLowerCase())) {
      const listed = await this.readAll<{ id: string; displayName?: string }>(`${children}?$select=id,displayName&$top=100`, []);
      const found = listed.find((c) => c.displayName?.toLowerCase() === name);
      if (!found) {
        path = null;
        break;
      }
      path = `${this.session.userPath}/mailFolders/${encodeURIComponent(found.id)}`;
      children = `${path}/childFolders`;
    }
    if (!path) throw Object.assign(new Error(`Folder "${folder}" does not exist in the mailbox`), { errorClass: 'permanent' });
    this.folderPaths.set(folder, path);
    return path;
  }
}
