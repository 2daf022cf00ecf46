import { createHash } from 'node:crypto';
import { opaque } from './http';

export type ItemKind = 'message' | 'contact' | 'event' | 'todoTask' | 'todoTaskList';

/** Graph's @odata.type per kind, as delta items carry it. */
export const odataType: Record<ItemKind, string> = {
  message: '#microsoft.graph.message',
  contact: '#microsoft.graph.contact',
  event: '#microsoft.graph.event',
  todoTask: '#microsoft.graph.todoTask',
  todoTaskList: '#microsoft.graph.todoTaskList',
};

export interface FakeAttachment {
  id: string;
  name: string;
  contentType: string;
  contentBytes: string;
  isInline: boolean;
  contentId?: string;
  lastModifiedDateTime: string;
}

/** One item (message, contact, event, task, task list) in one container. */
export interface ItemRecord {
  kind: ItemKind;
  /** Immutable id (what `Prefer: IdType="ImmutableId"` returns); also the To Do id. */
  core: string;
  /** Default ("REST") ids of Outlook items change when the item moves; this counts the moves. */
  moves: number;
  container: Container;
  /** Graph properties without id, changeKey, parentFolderId and @odata annotations. */
  data: Record<string, unknown>;
  changeKey: string;
  seq: number;
  createdSeq: number;
  extendedProperties: Map<string, string>;
  attachments: FakeAttachment[];
  /** Open extensions by extensionName. */
  extensions: Map<string, Record<string, unknown>>;
  /** A series master: the original starts (ms) of its cancelled occurrences, kept across re-expansion. */
  cancelledStarts?: Set<number>;
  /** To Do tasks: their linked resources (with server ids). */
  linkedResources?: Array<Record<string, unknown>>;
}

export interface Tombstone {
  core: string;
  restId: string;
  seq: number;
  kind: ItemKind;
}

/** A mail folder, contact folder, calendar or To Do list: what one delta query tracks. */
export interface Container {
  id: string;
  kind: ItemKind;
  displayName: string;
  wellKnownName?: string;
  parentFolderId?: string;
  mailbox: Mailbox;
  items: Map<string, ItemRecord>;
  tombstones: Map<string, Tombstone>;
  /** For a To Do list: its own record in the mailbox's list container. */
  listRecord?: ItemRecord;
}

export interface Mailbox {
  userId: string;
  mailFolders: Map<string, Container>;
  contactFolders: Map<string, Container>;
  calendar: Container;
  /** Holds the todoTaskList records (for /todo/lists/delta). */
  todoLists: Container;
  /** Task containers by list id. */
  taskLists: Map<string, Container>;
  /** Lookups by immutable id and by current default id. */
  byCore: Map<string, ItemRecord>;
  byRestId: Map<string, ItemRecord>;
  rootFolderId: string;
}

export type ChangeType = 'created' | 'updated' | 'deleted';
export type ChangeListener = (container: Container, id: { core: string; restId: string }, change: ChangeType, kind: ItemKind) => void;

export function restId(record: { core: string; moves: number; kind: ItemKind }): string {
  if (record.kind === 'todoTask' || record.kind === 'todoTaskList') return record.core;
  // Default ids change on every move, immutable ones never: derive a distinct, stable-per-move string.
  const suffix = createHash('sha256').update(`${record.core}/${record.moves}`).digest('base64url').slice(0, 40);
  return `AAMkAG${suffix}AAA=`;
}

export function newCore(kind: ItemKind): string {
  if (kind === 'todoTask' || kind === 'todoTaskList') return `AAMkAD${opaque(45)}=`;
  return `AAkALg${opaque(60)}AAA=`;
}

function newFolderId(): string {
  return `AAMkAGFld${opaque(30)}AAA=`;
}

export const wellKnownMailFolders: Array<[string, string]> = [
  ['inbox', 'Inbox'],
  ['drafts', 'Drafts'],
  ['sentitems', 'Sent Items'],
  ['deleteditems', 'Deleted Items'],
  ['junkemail', 'Junk Email'],
  ['archive', 'Archive'],
  ['outbox', 'Outbox'],
];

/** All mutable state of the fake; every change goes through here so delta and notifications see it. */
export class Store {
  private seq = 0;
  readonly mailboxes = new Map<string, Mailbox>();
  readonly listeners: ChangeListener[] = [];

  nextSeq(): number {
    return ++this.seq;
  }

  currentSeq(): number {
    return this.seq;
  }

  createMailbox(userId: string): Mailbox {
    const rootFolderId = newFolderId();
    const mailbox = {
      userId,
      mailFolders: new Map(),
      contactFolders: new Map(),
      taskLists: new Map(),
      byCore: new Map(),
      byRestId: new Map(),
      rootFolderId,
    } as unknown as Mailbox;
    for (const [wellKnownName, displayName] of wellKnownMailFolders) {
      this.addContainer(mailbox, 'message', displayName, wellKnownName);
    }
    this.addContainer(mailbox, 'contact', 'Contacts', 'contacts');
    mailbox.calendar = { id: newFolderId(), kind: 'event', displayName: 'Calendar', wellKnownName: 'calendar', mailbox, items: new Map(), tombstones: new Map() };
    mailbox.todoLists = { id: 'lists', kind: 'todoTaskList', displayName: 'Lists', mailbox, items: new Map(), tombstones: new Map() };
    this.addTaskList(mailbox, 'Tasks', 'defaultList');
    this.mailboxes.set(userId, mailbox);
    return mailbox;
  }

  addContainer(mailbox: Mailbox, kind: 'message' | 'contact', displayName: string, wellKnownName?: string, parentFolderId?: string): Container {
    const container: Container = {
      id: newFolderId(), kind, displayName, wellKnownName, mailbox, items: new Map(), tombstones: new Map(),
      parentFolderId: parentFolderId ?? mailbox.rootFolderId,
    };
    (kind === 'message' ? mailbox.mailFolders : mailbox.contactFolders).set(container.id, container);
    return container;
  }

  addTaskList(mailbox: Mailbox, displayName: string, wellknownListName = 'none'): Container {
    const listRecord = this.insert(mailbox.todoLists, { displayName, isOwner: true, isShared: false, wellknownListName });
    const container: Container = { id: listRecord.core, kind: 'todoTask', displayName, mailbox, items: new Map(), tombstones: new Map(), listRecord };
    mailbox.taskLists.set(container.id, container);
    return container;
  }

  private notify(container: Container, record: { core: string; moves: number; kind: ItemKind }, change: ChangeType): void {
    for (const listener of this.listeners) listener(container, { core: record.core, restId: restId(record) }, change, record.kind);
  }

  insert(container: Container, data: Record<string, unknown>, core = newCore(container.kind)): ItemRecord {
    const seq = this.nextSeq();
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const record: ItemRecord = {
      kind: container.kind, core, moves: 0, container,
      data: { createdDateTime: now, lastModifiedDateTime: now, ...data },
      changeKey: opaque(24), seq, createdSeq: seq,
      extendedProperties: new Map(), attachments: [], extensions: new Map(),
    };
    container.items.set(core, record);
    container.tombstones.delete(core);
    container.mailbox.byCore.set(core, record);
    container.mailbox.byRestId.set(restId(record), record);
    this.notify(container, record, 'created');
    return record;
  }

  /** Records a change: new change key, new sequence number, notification. */
  touch(record: ItemRecord, patch: Record<string, unknown> = {}): void {
    Object.assign(record.data, patch, { lastModifiedDateTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
    record.changeKey = opaque(24);
    record.seq = this.nextSeq();
    if (record.kind === 'todoTaskList' && record.data.displayName) {
      const list = record.container.mailbox.taskLists.get(record.core);
      if (list) list.displayName = String(record.data.displayName);
    }
    this.notify(record.container, record, 'updated');
  }

  private bury(record: ItemRecord): void {
    const container = record.container;
    container.items.delete(record.core);
    container.tombstones.set(record.core, { core: record.core, restId: restId(record), seq: this.nextSeq(), kind: record.kind });
    this.notify(container, record, 'deleted');
  }

  remove(record: ItemRecord): void {
    this.bury(record);
    const mailbox = record.container.mailbox;
    mailbox.byCore.delete(record.core);
    mailbox.byRestId.delete(restId(record));
  }

  /** Moves between folders of one mailbox: @removed in the old folder, new default id, same immutable id. */
  move(record: ItemRecord, target: Container): ItemRecord {
    if (target === record.container) return record;
    const mailbox = record.container.mailbox;
    this.bury(record);
    mailbox.byRestId.delete(restId(record));
    record.moves += 1;
    record.container = target;
    record.changeKey = opaque(24);
    record.seq = this.nextSeq();
    target.items.set(record.core, record);
    target.tombstones.delete(record.core);
    mailbox.byRestId.set(restId(record), record);
    this.notify(target, record, 'created');
    return record;
  }

  findRecord(mailbox: Mailbox, id: string, kind?: ItemKind): ItemRecord | undefined {
    const record = mailbox.byCore.get(id) ?? mailbox.byRestId.get(id);
    return record && (!kind || record.kind === kind) ? record : undefined;
  }
}
