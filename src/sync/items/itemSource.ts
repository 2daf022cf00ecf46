import type { ItemEntity } from '../../crm/itemFields';
import type { SourceCursor } from '../../mail/mailSource';

/**
 * An item as the two-way engine compares it, whatever the provider: the CRM record's fields in the
 * API's names (src/crm/itemFields.ts, plus `attendees`, `organizer`, `recurrence`, `exceptions` for
 * appointments), limited to those the provider carries. A provider maps its own shape (Graph's
 * contact, event, To Do task; later vCard, iCalendar) to and from this.
 */
export type ItemFields = Record<string, unknown>;

/** One item on the mail server. */
export interface RemoteItem {
  remoteId: string;
  /** The version the server gives (Graph changeKey, a DAV ETag): a write carries it. */
  changeKey: string;
  /** The CRM id stamped on the item (Graph extended property or linkedResource, DAV X- property), when it has one. */
  crmId: string | null;
  categories: string[];
  /** When the server last changed it (Graph lastModifiedDateTime, DAV LAST-MODIFIED): later_wins compares it; absent: when it was read. */
  modifiedAt?: Date;
  /** Keys for first-enable matching: iCalUId for events; for contacts the lower-cased email addresses. */
  matchKeys: string[];
  fields: ItemFields;
}

export interface ItemPage {
  /** Created or changed since the cursor; an item can come twice (delta replays): upsert. */
  changed: RemoteItem[];
  /** Deleted or moved out of the container since the cursor. */
  removed: string[];
  /** Covers this page and all before it; stored in the transaction that stores the page. */
  cursor: SourceCursor;
  /** The server forgot the old cursor (Graph 410): this round lists everything; links not seen in it are gone. */
  reset: boolean;
  /** Last page of the round: what is not in a reset round does not exist. */
  last: boolean;
}

/** The server refused a write because the item changed since `changeKey` (Graph 412): re-read, merge, retry. */
export class StaleChangeKeyError extends Error {
  constructor(readonly remoteId: string) {
    super(`The item ${remoteId} changed on the server since it was read`);
    this.name = 'StaleChangeKeyError';
  }
}

/**
 * The server refused a write of this one item for what it holds (a value it does not take, an item
 * gone meanwhile, too large): the engine keeps it as the item's error and goes on with the others.
 * Any other failure (throttling, a permission missing, the server down) ends the run.
 */
export class ItemRejectedError extends Error {
  constructor(
    /** The item refused; null for a create (the CRM record names it). */
    readonly remoteId: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'ItemRejectedError';
  }
}

/** A failure of one item rather than of the run. */
export const isItemFailure = (err: unknown): err is ItemRejectedError | StaleChangeKeyError => err instanceof ItemRejectedError || err instanceof StaleChangeKeyError;

/** A CRM id to stamp on an item, as `stamp` takes it. */
export interface ItemStamp {
  container: string;
  remoteId: string;
  changeKey: string;
  crmId: string | null;
}

/**
 * One kind of item in one mailbox on the mail server: a container (contact folder, calendar, To Do
 * list) read by change tracking and written item by item. Each provider implements it per entity;
 * the engine in src/sync/items/ never names a protocol.
 */
export interface ItemSource {
  readonly entity: ItemEntity;
  /** The containers this mailbox syncs (default contact folder, primary calendar, default To Do list). */
  containers(): Promise<string[]>;
  /** Pages of what changed in `container` since `cursor` (everything when null). */
  pull(container: string, cursor: SourceCursor | null): AsyncIterable<ItemPage>;
  get(container: string, remoteId: string): Promise<RemoteItem | null>;
  /** Creates the item stamped with `crmId`. */
  create(container: string, fields: ItemFields, crmId: string): Promise<RemoteItem>;
  /** Writes these fields only; rejects with StaleChangeKeyError when the item moved past `changeKey`. */
  update(container: string, remoteId: string, changeKey: string, fields: ItemFields): Promise<RemoteItem>;
  /** Stamps or clears the CRM id (linking, unlinking), leaving the fields alone; resolves to the item's new change key. */
  stamp(container: string, remoteId: string, changeKey: string, crmId: string | null): Promise<string>;
  /**
   * Several stamps in fewer requests, where the server can (Graph's $batch): for each, the item's new
   * change key or the error its own `stamp` would have thrown (StaleChangeKeyError, ItemRejectedError).
   * Rejects as a whole only for what is not one item's failure (throttling, the server down).
   */
  stampMany?(stamps: ItemStamp[]): Promise<(string | ItemRejectedError | StaleChangeKeyError)[]>;
  delete(container: string, remoteId: string): Promise<void>;
}
