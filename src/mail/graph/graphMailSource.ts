import type { Message } from '@microsoft/microsoft-graph-types';
import type { IncomingBatch, IncomingItem, MailSource, PullOptions, SourceCursor } from '../mailSource';
import type { ParseOutcome } from '../parseWorker';
import { emailFromGraph, MESSAGE_SELECT, receivedAtOf, referencesInlineImages, type GraphAttachment, type GraphMessageInput } from './graphMessage';
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

/** Graph messages as the CRM stores them, in order: the parse pool's threads, or this one. */
export type GraphMessageMapper = (inputs: GraphMessageInput[]) => Promise<ParseOutcome[]>;

const mapHere: GraphMessageMapper = async (inputs) =>
  inputs.map((input) => {
    try {
      return { message: emailFromGraph(input.message, input.attachments) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  });

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

  constructor(
    private readonly session: GraphSession,
    private readonly mapMessages: GraphMessageMapper = mapHere,
  ) {}

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
    // A page is fetched, then prepared (completed, its attachments read, mapped); the next page is
    // fetched while this one is prepared, and prepared while this one is stored.
    const read = (from: string | null, reset: boolean) => {
      const fetched = this.fetchPage(folder, from, prefer);
      const prepared = fetched.then((page) => this.preparePage(page, reset, options, prefer));
      const settled = Promise.allSettled([fetched, prepared]);
      this.readAhead = settled;
      return { fetched, prepared };
    };
    let current = read(link, false);
    for (;;) {
      let page: DeltaPage;
      try {
        page = await current.fetched;
      } catch (err) {
        // Graph forgot the round (410, SyncStateNotFound, resyncRequired; also mid-paging): the
        // folder is read again from the start and reconciled against what is stored.
        if (!(err instanceof GraphRequestError && err.syncStateLost) || link === null) throw err;
        current.prepared.catch(() => undefined);
        link = null;
        current = read(null, true);
        continue;
      }
      link = page['@odata.nextLink'] ?? null;
      const following = link === null ? null : read(link, false);
      following?.fetched.catch(() => undefined);
      following?.prepared.catch(() => undefined);
      yield await current.prepared;
      if (!following) return;
      current = following;
    }
  }

  private async fetchPage(folder: string, link: string | null, prefer: string[]): Promise<DeltaPage> {
    const url = link ?? `${await this.folderPath(folder)}/messages/delta?$select=${MESSAGE_SELECT.join(',')}`;
    const page = await this.session.request<DeltaPage>({ method: 'GET', url, prefer });
    if (!page['@odata.nextLink'] && !page['@odata.deltaLink']) {
      throw new Error(`Microsoft Graph ended a delta page of folder "${folder}" without a next or delta link`);
    }
    return page;
  }

  private async preparePage(page: DeltaPage, reset: boolean, options: PullOptions, prefer: string[]): Promise<IncomingBatch> {
    const next = page['@odata.nextLink'] ?? null;
    const deltaLink = page['@odata.deltaLink'] ?? null;
    // The same message may be listed more than once in a round (graph.md §2.2): the last listing counts.
    const latest = new Map<string, DeltaItem>();
    for (const item of page.value ?? []) {
      if (!item.id) continue;
      latest.delete(item.id);
      latest.set(item.id, item);
    }
    const read: (IncomingItem | { id: string; input: GraphMessageInput; receivedAt: Date | null })[] = [];
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
      read.push(await this.withAttachments(id, message, receivedAt, options.maxMessageBytes, prefer));
    }
    const inputs = read.flatMap((r) => ('input' in r ? [r.input] : []));
    const mapped = inputs.length > 0 ? await this.mapMessages(inputs) : [];
    let mappedNext = 0;
    const items = read.map((r): IncomingItem => {
      if (!('input' in r)) return r;
      const outcome = mapped[mappedNext++];
      return 'message' in outcome
        ? { kind: 'email', remoteId: r.id, message: outcome.message, receivedAt: r.receivedAt }
        : { kind: 'error', remoteId: r.id, message: `Message could not be read: ${outcome.error}` };
    });
    const cursor: GraphFolderCursor = next ? { nextLink: next, deltaLink: null } : { nextLink: null, deltaLink };
    // How many are still to come is not known: at least one more page while there is a next link.
    // A round is not cut short by the cycle budget: the next page is read ahead, and its link then
    // answers 410, which would start the folder over every cycle.
    return { items, cursor, skipped, reset, remaining: next ? 1 : 0, removed, resumableHere: next === null };
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

  /** The message with its attachments, or an error item for one over the profile's size limit. */
  private async withAttachments(
    id: string,
    message: Message,
    receivedAt: Date | null,
    maxBytes: number,
    prefer: string[],
  ): Promise<IncomingItem | { id: string; input: GraphMessageInput; receivedAt: Date | null }> {
    if (!message.hasAttachments && !referencesInlineImages(message)) return { id, input: { message, attachments: [] }, receivedAt };
    const base = `${this.session.userPath}/messages/${encodeURIComponent(id)}/attachments`;
    // Sizes first, so a message over the profile's limit is not downloaded.
    const sizes = await this.session.request<Collection<{ size?: number | null }>>({ method: 'GET', url: `${base}?$select=id,size`, prefer });
    const size = Buffer.byteLength(message.body?.content ?? '') + (sizes.value ?? []).reduce((sum, a) => sum + (a.size ?? 0), 0);
    if (size > maxBytes) return { kind: 'error', remoteId: id, message: `Message is ${size} bytes, over the profile's limit of ${maxBytes} bytes` };
    return { id, input: { message, attachments: await this.readAll<GraphAttachment>(base, prefer) }, receivedAt };
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
