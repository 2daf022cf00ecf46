import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import type { CrmItems, ItemChange, ItemWrite } from '../../crm/crmItems';
import type { ItemEntity } from '../../crm/itemFields';
import type { SourceCursor } from '../../mail/mailSource';
import { effectiveDirections, flowsTo } from '../../policy/fieldDirections';
import {
  contactMatchKey,
  crmDeleted,
  exchangeDeleted,
  filterOut,
  hasCategory,
  mergeItem,
  newItemDecision,
  normalize,
  snapshot,
  untracked,
  type DeleteAction,
  type MergeField,
  type Values,
} from '../../policy/itemMerge';
import { readableReason } from '../../policy/itemVisibility';
import { crmExceptions, exceptionWrites, type ExceptionRow, type SeriesException, type SeriesValues } from '../../policy/seriesExceptions';
import { containerScope, CRM_SCOPE, type ItemLink, type ItemSyncSettings, type ItemSyncStore } from '../../store/itemSyncStore';
import { isItemFailure, StaleChangeKeyError, type ItemFields, type ItemSource, type RemoteItem } from './itemSource';

/** A write refused for a stale change key is re-read, merged and tried again this many times. */
const STALE_RETRIES = 3;
const CHANGE_PAGE = 500;

export interface ItemSyncDeps {
  crm: CrmItems;
  store: ItemSyncStore;
  /** Called between items, so a long initial sync heartbeats. */
  progress?: () => void;
  now?: () => Date;
}

/** What one mailbox's item sync did for one entity. */
export interface ItemSyncFigures {
  entity: ItemEntity;
  /** Writes to the CRM and to the mail server (creates, updates, deletes, stamps not counted). */
  crmWrites: number;
  remoteWrites: number;
  linked: number;
  unlinked: number;
  failed: number;
  conflicts: number;
}

/** The origin sync marks its CRM writes with, and skips when it reads the change log. */
export const mailboxOrigin = (mailboxId: string) => `mailbox:${mailboxId}`;

/**
 * One mailbox, all the entities it has sources for: Exchange -> CRM, then CRM -> Exchange.
 * A mailbox without an owner or gone has nothing to sync.
 */
export async function syncItems(
  mailboxId: string,
  sources: ItemSource[] | ((settings: ItemSyncSettings) => ItemSource[]),
  deps: ItemSyncDeps,
): Promise<ItemSyncFigures[]> {
  const settings = await deps.store.settings(mailboxId);
  if (!settings || settings.ownerUserId === null) return [];
  const figures: ItemSyncFigures[] = [];
  // A provider may need the settings to make its sources (the calendar window).
  for (const source of typeof sources === 'function' ? sources(settings) : sources) figures.push(await new EntitySync(source, settings, settings.ownerUserId, deps).run());
  return figures;
}

/**
 * The two-way sync of one entity for one mailbox. Both sides' changes are merged per field against
 * the link's snapshots (src/policy/itemMerge.ts), so a change comes back from the other side as no
 * change at all: one change, one write. The CRM change-log cursor is per mailbox and shared by its
 * entities; each moves only with the links its changes produced.
 */
class EntitySync {
  private readonly entity: ItemEntity;
  private readonly origin: string;
  private readonly byRemote = new Map<string, ItemLink>();
  private readonly byCrm = new Map<string, ItemLink>();
  private readonly figures: ItemSyncFigures;
  private readonly now: () => Date;

  constructor(
    private readonly source: ItemSource,
    private readonly settings: ItemSyncSettings,
    private readonly userId: string,
    private readonly deps: ItemSyncDeps,
  ) {
    this.entity = source.entity;
    this.origin = mailboxOrigin(settings.mailboxId);
    this.figures = { entity: this.entity, crmWrites: 0, remoteWrites: 0, linked: 0, unlinked: 0, failed: 0, conflicts: 0 };
    this.now = deps.now ?? (() => new Date());
  }

  async run(): Promise<ItemSyncFigures> {
    for (const link of await this.deps.store.links(this.settings.mailboxId, this.entity)) this.remember(link);
    const crmScope = `${CRM_SCOPE}:${this.entity}`;
    const storedCrmCursor = (await this.deps.store.cursor(this.settings.mailboxId, crmScope)) as string | null;
    // Taken before anything is read: a change made during the first sync is read again, never missed.
    const startCursor = storedCrmCursor ?? (await this.deps.crm.currentCursor());
    const containers = await this.source.containers();
    for (const container of containers) await this.pullContainer(container, storedCrmCursor === null);
    // Asked for by a person: Exchange-side items are retried below anyway, CRM-side ones only here (else at their record's next change).
    const retries = await this.deps.store.retryRequests(this.settings.mailboxId, this.entity);
    await this.retryFailed();
    if (storedCrmCursor === null) {
      await this.pushRecords(await this.deps.crm.matchingIds(this.userId, this.entity), containers[0], new Map());
      await this.deps.store.saveCursor(this.settings.mailboxId, crmScope, startCursor);
    } else {
      await this.pushRecords(retries.filter((r) => r.side === 'crm').map((r) => r.itemKey), containers[0], new Map());
      await this.pushChanges(storedCrmCursor, crmScope, containers[0]);
      await this.reconcileMembership(containers[0]);
    }
    await this.deps.store.retried(this.settings.mailboxId, retries);
    return this.figures;
  }

  /** Records as plain values: the engine reads fields by name. */
  private async read(ids: string[]): Promise<Rec[]> {
    const records = (await this.deps.crm.read(this.entity, ids)) as unknown as Rec[];
    return this.entity === 'appointment' ? this.withExceptions(records) : records;
  }

  /** A series with its exceptions' own values: CrmItems lists only their ids, the rows are read alongside. */
  private async withExceptions(records: Rec[]): Promise<Rec[]> {
    const idsOf = (r: Rec) => ((r.recurrence ? r.exceptions : []) as { id: string }[]).map((e) => e.id);
    const ids = records.flatMap(idsOf);
    const rows = new Map(ids.length ? ((await this.deps.crm.read('appointment', ids)) as unknown as ExceptionRow[]).map((r) => [r.id, r]) : []);
    return records.map((r) => (r.recurrence ? { ...r, exceptions: crmExceptions(r as SeriesValues, idsOf(r).flatMap((id) => rows.get(id) ?? [])) } : r));
  }

  /** A series' exceptions are CRM rows of their own: `exceptions` among a write's values becomes writes of those rows. */
  private crmWrites(write: ItemWrite & { id: string; values: Values }, series: Rec | null): ItemWrite[] {
    if (this.entity !== 'appointment' || !Object.hasOwn(write.values, 'exceptions')) return [write];
    const { exceptions, ...values } = write.values;
    const own = write.operation === 'create' || Object.keys(values).length > 0 ? [{ ...write, values }] : [];
    const current = (series?.exceptions ?? []) as (SeriesException & { id: string })[];
    return [...own, ...exceptionWrites({ ...series, ...values, id: write.id }, current, (exceptions as unknown[] | null) ?? [])];
  }

  // Links ----------------------------------------------------------------------------------------

  private remember(link: ItemLink): void {
    this.byRemote.set(remoteKey(link.container, link.remoteId), link);
    this.byCrm.set(link.crmId, link);
  }

  private forget(link: ItemLink): void {
    this.byRemote.delete(remoteKey(link.container, link.remoteId));
    this.byCrm.delete(link.crmId);
  }

  /** The synced fields of the record (a series has its own table of directions). */
  private fieldsFor(record: Values | null): MergeField[] {
    const directionEntity = this.entity === 'appointment' && record?.recurrence ? 'recurringAppointment' : this.entity;
    const fields: MergeField[] = effectiveDirections(this.settings.directionOverrides)
      .filter((d) => d.entity === directionEntity)
      .map((d) => ({ field: d.field, crmFields: d.crmFields, direction: d.direction }));
    // A series' moved and cancelled occurrences go where its pattern goes, merged apart from it.
    const pattern = directionEntity === 'recurringAppointment' ? fields.find((f) => f.crmFields.includes('recurrence')) : undefined;
    return pattern ? [...fields, { field: 'exceptions', crmFields: ['exceptions'], direction: pattern.direction }] : fields;
  }

  /** The record's values that flow to the mail server (a create). */
  private toRemoteValues(record: Rec): ItemFields {
    const out: ItemFields = {};
    for (const f of this.fieldsFor(record)) if (flowsTo(f.direction, 'exchange')) for (const n of f.crmFields) out[n] = normalize(record[n], n);
    return out;
  }

  /** The item's values that flow to the CRM (a tracked item's new record). */
  private toCrmValues(item: RemoteItem): Values {
    const out: Values = {};
    for (const f of this.fieldsFor(item.fields)) {
      if (!flowsTo(f.direction, 'crm')) continue;
      for (const n of f.crmFields) if (Object.hasOwn(item.fields, n) && normalize(item.fields[n], n) !== null) out[n] = normalize(item.fields[n], n);
    }
    return out;
  }

  private remoteSnapshot(fields: ItemFields, record: Values | null): Values {
    return snapshot(fields, this.fieldsFor(record), new Set(Object.keys(fields)));
  }

  // Exchange -> CRM -------------------------------------------------------------------------------

  private async pullContainer(container: string, firstEnable: boolean): Promise<void> {
    const scope = containerScope(this.entity, container);
    const cursor = (await this.deps.store.cursor(this.settings.mailboxId, scope)) as SourceCursor | null;
    const firstRound = firstEnable || cursor === null;
    const matches = !firstRound ? new Map<string, string>() : this.entity === 'contact' ? await this.contactMatches() : this.entity === 'appointment' ? await this.appointmentMatches() : new Map<string, string>();
    const seen = new Set<string>();
    let reset = false;
    for await (const page of this.source.pull(container, cursor)) {
      reset ||= page.reset;
      const batch = emptyBatch();
      const linkedIds = [...page.changed.map((i) => i.remoteId), ...page.removed].map((id) => this.byRemote.get(remoteKey(container, id))?.crmId ?? null);
      const records = await this.recordsOf([...page.changed.map((i) => i.crmId), ...linkedIds]);
      for (const item of page.changed) {
        seen.add(item.remoteId);
        this.deps.progress?.();
        this.fromRemote(container, item, records, matches, batch);
      }
      const removed = [...page.removed];
      if (page.last && reset) {
        for (const link of this.byRemote.values()) if (link.container === container && !seen.has(link.remoteId)) removed.push(link.remoteId);
      }
      for (const remoteId of removed) this.removedRemote(container, remoteId, records, batch);
      await this.commit(batch.writes, batch.linksToSave, batch.unlinks);
      await this.runAfter(batch, container);
      // After the page's stamps and Exchange writes too: a run stopped before them reads the page again and does them.
      await this.deps.store.saveCursor(this.settings.mailboxId, scope, page.cursor);
    }
  }

  /** Records by id, for the CRM ids a page names (stamped or linked). */
  private async recordsOf(ids: (string | null)[]): Promise<Map<string, Rec>> {
    const wanted = [...new Set(ids.filter((id): id is string => id !== null && UUID.test(id)))];
    if (wanted.length === 0) return new Map();
    return new Map((await this.read(wanted)).map((r) => [r.id, r]));
  }

  /** First enable: the user's contacts not linked yet, by address and name. */
  private async contactMatches(): Promise<Map<string, string>> {
    const ids = (await this.deps.crm.matchingIds(this.userId, 'contact')).filter((id) => !this.byCrm.has(id));
    const out = new Map<string, string>();
    for (let i = 0; i < ids.length; i += 1000) {
      for (const r of await this.read(ids.slice(i, i + 1000))) {
        for (const email of [r.email, r.email2, r.email3]) {
          const key = contactMatchKey(email, r.fullName);
          if (key && !out.has(key)) out.set(key, r.id);
        }
      }
    }
    return out;
  }

  /** First enable: the user's appointments not linked yet, by the iCalUId of the event sync once made of them. */
  private async appointmentMatches(): Promise<Map<string, string>> {
    const ids = (await this.deps.crm.matchingIds(this.userId, 'appointment')).filter((id) => !this.byCrm.has(id));
    const out = new Map<string, string>();
    for (let i = 0; i < ids.length; i += 1000) {
      for (const r of (await this.deps.crm.read('appointment', ids.slice(i, i + 1000))) as unknown as Rec[]) {
        if (typeof r.iCalUId === 'string' && r.iCalUId !== '' && !out.has(r.iCalUId)) out.set(r.iCalUId, r.id);
      }
    }
    return out;
  }

  private fromRemote(container: string, item: RemoteItem, records: Map<string, Rec>, matches: Map<string, string>, batch: Batch): void {
    const link = this.byRemote.get(remoteKey(container, item.remoteId));
    if (link) {
      if (untracked(link.state, item.categories, this.settings.trackingCategory)) {
        const resting: ItemLink = { ...link, changeKey: item.changeKey, state: 'untracked' };
        this.remember(resting);
        batch.linksToSave.push(resting);
        this.figures.unlinked++;
        batch.after.push(() => this.clearStamp(link.container, item.remoteId, item.changeKey));
        return;
      }
      if (link.state === 'untracked') {
        if (!hasCategory(item.categories, this.settings.trackingCategory)) return;
        // Tracked again: the same record, merged as a first link.
        const back: ItemLink = { ...link, state: 'tracked', crmSnapshot: null, remoteSnapshot: null };
        this.remember(back);
        const again = records.get(link.crmId);
        if (again) this.mergeLinked(back, again, item, batch);
        batch.stamps.push(back);
        return;
      }
      const record = records.get(link.crmId);
      // Deleted in the CRM: the CRM side of this cycle applies the delete rule.
      if (!record) return;
      this.mergeLinked(link, record, item, batch);
      // Linked by a run stopped before it stamped the item.
      if (item.crmId === null) batch.stamps.push(link);
      return;
    }
    const stamped = item.crmId ? records.get(item.crmId) : undefined;
    let decision = newItemDecision(item, this.settings.trackingCategory, stamped !== undefined && !this.byCrm.has(stamped.id));
    if (decision.kind === 'ignore' && this.entity === 'contact') {
      const name = item.fields.fullName;
      const crmId = item.matchKeys.map((k) => matches.get(contactMatchKey(k, name) ?? '')).find((id) => id !== undefined && !this.byCrm.has(id));
      if (crmId) decision = { kind: 'link', crmId };
    }
    if (decision.kind !== 'link' && this.entity === 'appointment') {
      // The event sync made of a record before (its iCalUId kept with the record), tracked or not: linked, never made twice.
      const crmId = item.matchKeys.map((k) => matches.get(k)).find((id) => id !== undefined && !this.byCrm.has(id));
      if (crmId) decision = { kind: 'link', crmId };
    }
    if (decision.kind === 'ignore') return;
    if (decision.kind === 'link') {
      const fresh: ItemLink = { mailboxId: this.settings.mailboxId, entity: this.entity, container, remoteId: item.remoteId, crmId: decision.crmId, changeKey: item.changeKey, crmSnapshot: null, remoteSnapshot: null, state: 'synced' };
      this.remember(fresh);
      this.figures.linked++;
      const record = records.get(decision.crmId);
      if (record) this.mergeLinked(fresh, record, item, batch);
      else batch.after.push(() => this.linkWithRecord(fresh, item));
      if (item.crmId !== decision.crmId) batch.stamps.push(fresh);
      return;
    }
    // Tracked by the category: a new record, linked both ways from now on.
    const crmId = randomUUID();
    const values: Values = { ...this.toCrmValues(item), ownerUserId: this.userId };
    const tracked: ItemLink = {
      mailboxId: this.settings.mailboxId,
      entity: this.entity,
      container,
      remoteId: item.remoteId,
      crmId,
      changeKey: item.changeKey,
      crmSnapshot: snapshot(values, this.fieldsFor(values)),
      remoteSnapshot: this.remoteSnapshot(item.fields, values),
      state: 'tracked',
    };
    this.remember(tracked);
    const uid = this.entity === 'appointment' && item.matchKeys[0] ? { iCalUId: item.matchKeys[0] } : {};
    batch.writes.push(...this.crmWrites({ entity: this.entity, operation: 'create', id: crmId, values: { ...values, ...uid } }, null));
    batch.linksToSave.push(tracked);
    this.figures.linked++;
    batch.stamps.push(tracked);
  }

  /** A first link whose record was not in the page's read (matched by address and name). */
  private async linkWithRecord(link: ItemLink, item: RemoteItem): Promise<void> {
    const [record] = await this.read([link.crmId]);
    if (!record) {
      this.forget(link);
      return;
    }
    const batch = emptyBatch();
    this.mergeLinked(link, record, item, batch);
    await this.commit(batch.writes, batch.linksToSave, batch.unlinks);
    await this.runAfter(batch, link.container);
  }

  /** Merges a linked pair as the mail server has it now: CRM writes join the batch, mail-server writes follow it. */
  private mergeLinked(link: ItemLink, record: Rec, item: RemoteItem, batch: Batch, attempt = 0): void {
    const fields = this.fieldsFor(record);
    const merged = mergeItem({
      fields,
      crm: record,
      crmBase: link.crmSnapshot,
      remote: item.fields,
      remoteBase: link.remoteSnapshot,
      rule: this.settings.conflictRule,
      crmModifiedAt: record.modifiedAt,
      remoteModifiedAt: item.modifiedAt ?? this.now(),
    });
    if (merged.conflicts.length > 0) batch.after.push(() => this.informConflict(record, merged.conflicts));
    if (Object.keys(merged.toCrm).length > 0) {
      batch.writes.push(...this.crmWrites({ entity: this.entity, operation: 'update', id: record.id, values: merged.toCrm }, record));
      this.figures.crmWrites++;
    }
    const updated: ItemLink = {
      ...link,
      changeKey: item.changeKey,
      crmSnapshot: stillPending(snapshot({ ...record, ...merged.toCrm }, fields), link.crmSnapshot, merged.toRemote),
      remoteSnapshot: this.remoteSnapshot(item.fields, record),
    };
    this.remember(updated);
    batch.linksToSave.push(updated);
    if (Object.keys(merged.toRemote).length > 0) batch.after.push(() => this.writeRemote(updated, merged.toRemote, record, attempt));
  }

  private removedRemote(container: string, remoteId: string, records: Map<string, Rec>, batch: Batch): void {
    const link = this.byRemote.get(remoteKey(container, remoteId));
    if (!link) return;
    const record = records.get(link.crmId) ?? null;
    const action: DeleteAction | null = link.state === 'untracked' ? null : exchangeDeleted(this.deleteContext(link, record), this.settings.deleteRules);
    if (action === 'unlink' && record) {
      // The record stays, and so does the user's delete: a resting link keeps the filters from putting it back.
      const resting: ItemLink = { ...link, state: 'untracked' };
      this.remember(resting);
      batch.linksToSave.push(resting);
      this.figures.unlinked++;
      return;
    }
    batch.unlinks.push(link);
    if (action === 'delete') {
      batch.writes.push({ entity: this.entity, operation: 'delete', id: link.crmId });
      this.figures.crmWrites++;
    }
  }

  private deleteContext(link: ItemLink, record: Rec | null, ownerBefore?: string | null) {
    const known = (record ?? link.crmSnapshot ?? {}) as Values;
    const organizer = typeof known.organizerAddress === 'string' ? known.organizerAddress.toLowerCase() : null;
    const startsAt = known.startsAt ? new Date(known.startsAt as string) : null;
    return {
      entity: this.entity,
      userId: this.userId,
      ownerUserId: (record?.ownerUserId as string | null | undefined) ?? ownerBefore ?? null,
      organizedByUser: organizer === null || organizer === this.settings.emailAddress.toLowerCase(),
      startsAt,
      status: (known.status as string | undefined) ?? null,
      completedInExchange: link.remoteSnapshot?.status === 'completed',
      now: this.now(),
    };
  }

  /** CRM writes and link changes: one transaction. A CRM write that fails is an item error, not a stuck page. */
  private async commit(writes: ItemWrite[], linksToSave: ItemLink[], unlinks: ItemLink[]): Promise<number> {
    const storeLinks = async (db: PoolClient, links: ItemLink[], gone: ItemLink[]) => {
      for (const link of gone) await this.deps.store.unlink(link.mailboxId, link.entity, link.crmId, db);
      for (const link of links) await this.deps.store.saveLink(link, db);
    };
    for (const link of unlinks) this.forget(link);
    this.figures.unlinked += unlinks.length;
    try {
      await this.deps.crm.apply(this.origin, writes, (db) => storeLinks(db, linksToSave, unlinks));
      return 0;
    } catch (err) {
      if (writes.length === 0) throw err;
    }
    // One at a time, to find the write that fails; its link is left out and its item retried later.
    for (const link of unlinks) await this.deps.store.unlink(link.mailboxId, link.entity, link.crmId);
    const failedIds = new Set<string>();
    for (const write of writes) {
      const id = write.id!;
      const link = linksToSave.find((l) => l.crmId === id);
      try {
        await this.deps.crm.apply(this.origin, [write], async (db) => (link ? this.deps.store.saveLink(link, db) : undefined));
        if (link) await this.deps.store.clearError(this.settings.mailboxId, this.entity, 'exchange', link.remoteId);
      } catch (err) {
        failedIds.add(id);
        this.figures.failed++;
        if (link) {
          this.forget(link);
          await this.deps.store.recordError(this.settings.mailboxId, {
            entity: this.entity,
            side: 'exchange',
            itemKey: link.remoteId,
            container: link.container,
            reason: `The CRM refused the ${write.operation} of this ${this.entity}: ${readableReason(err)}`,
            retryAction: 'Correct the item in Exchange (or the CRM record); the next cycle tries it again',
          });
        }
      }
    }
    const written = new Set(writes.map((w) => w.id));
    await this.deps.crm.apply(this.origin, [], (db) => storeLinks(db, linksToSave.filter((l) => !written.has(l.crmId)), []));
    return failedIds.size;
  }

  /**
   * The mail-server writes that follow a commit, then its stamps. One the server refuses for its item
   * is kept as that item's error (read again and retried next cycle) and the others go on; anything
   * else ends the run. Returns how many were refused.
   */
  private async runAfter(batch: Batch, container: string): Promise<number> {
    let refused = 0;
    const refuse = async (err: unknown) => {
      if (!isItemFailure(err) || err.remoteId === null) throw err;
      refused++;
      this.figures.failed++;
      await this.deps.store.recordError(this.settings.mailboxId, {
        entity: this.entity,
        side: 'exchange',
        itemKey: err.remoteId,
        container,
        reason: `Exchange refused a write to this ${this.entity}: ${readableReason(err)}`,
        retryAction: 'The next cycle reads it again and retries; if Exchange keeps refusing, correct the value in the CRM record',
      });
    };
    for (const step of batch.after) await step().catch(refuse);
    // As they are now: a write above moved their change keys; a link dropped meanwhile (its record could not be written) has nothing to stamp.
    const stamps = batch.stamps.map((l) => this.byCrm.get(l.crmId)).filter((l): l is ItemLink => l !== undefined);
    if (stamps.length === 0) return refused;
    if (!this.source.stampMany) {
      for (const link of stamps) await this.stampLink(link).catch(refuse);
      return refused;
    }
    const changeKeys = await this.source.stampMany(stamps.map(({ container: c, remoteId, changeKey, crmId }) => ({ container: c, remoteId, changeKey, crmId })));
    for (const [i, changeKey] of changeKeys.entries()) {
      if (typeof changeKey === 'string') await this.stamped(stamps[i], changeKey);
      else await refuse(changeKey);
    }
    return refused;
  }

  /** Items that failed on the Exchange side: read again and taken through the same path. */
  private async retryFailed(): Promise<void> {
    const failed = (await this.deps.store.errors(this.settings.mailboxId)).filter((e) => e.entity === this.entity && e.side === 'exchange' && e.container);
    for (const e of failed) {
      const item = await this.source.get(e.container!, e.itemKey);
      if (!item) {
        await this.deps.store.clearError(this.settings.mailboxId, this.entity, 'exchange', e.itemKey);
        continue;
      }
      const batch = emptyBatch();
      const records = await this.recordsOf([item.crmId, this.byRemote.get(remoteKey(e.container!, item.remoteId))?.crmId ?? null]);
      this.fromRemote(e.container!, item, records, new Map(), batch);
      const failed = (await this.commit(batch.writes, batch.linksToSave, batch.unlinks)) + (await this.runAfter(batch, e.container!));
      if (failed === 0) await this.deps.store.clearError(this.settings.mailboxId, this.entity, 'exchange', e.itemKey);
    }
  }

  // CRM -> Exchange -------------------------------------------------------------------------------

  private async pushChanges(cursor: string, crmScope: string, container: string): Promise<void> {
    for (;;) {
      const page = await this.deps.crm.changesSince(cursor, { limit: CHANGE_PAGE, skipOrigin: this.origin });
      const owners = new Map<string, string | null>();
      for (const c of page.changes) if (c.entity === this.entity) owners.set(c.recordId, ownerOf(c, owners.get(c.recordId)));
      await this.pushRecords([...owners.keys()], container, owners);
      await this.deps.store.saveCursor(this.settings.mailboxId, crmScope, page.cursor);
      cursor = page.cursor;
      if (!page.more) return;
    }
  }

  /**
   * What the filters cover now against what is linked: an edited filter changes no record, so the
   * change log cannot tell; one query of ids per cycle can.
   */
  private async reconcileMembership(container: string): Promise<void> {
    const matching = new Set(await this.deps.crm.matchingIds(this.userId, this.entity));
    const differing = [...[...matching].filter((id) => !this.byCrm.has(id)), ...[...this.byCrm.keys()].filter((id) => !matching.has(id))];
    if (differing.length > 0) await this.pushRecords(differing, container, new Map());
  }

  /** Brings the mail server in line with these records: create, update, remove, as the filters say. */
  private async pushRecords(ids: string[], container: string, ownersBefore: Map<string, string | null>): Promise<void> {
    for (let i = 0; i < ids.length; i += CHANGE_PAGE) {
      let chunk = ids.slice(i, i + CHANGE_PAGE);
      let records = new Map((await this.read(chunk)).map((r) => [r.id, r]));
      // An occurrence changed in a series is a change of its series: the mail server keeps it there, never on its own.
      const masters = [...records.values()].map((r) => r.seriesMasterId).filter((id): id is string => typeof id === 'string');
      if (masters.length > 0) {
        chunk = [...new Set([...chunk.filter((id) => !records.get(id)?.seriesMasterId), ...masters])];
        records = new Map((await this.read(chunk)).map((r) => [r.id, r]));
      }
      const matching = new Set(await this.deps.crm.matchingIds(this.userId, this.entity, chunk));
      for (const id of chunk) {
        this.deps.progress?.();
        try {
          await this.pushRecord(id, records.get(id) ?? null, matching.has(id), container, ownersBefore.get(id));
          await this.deps.store.clearError(this.settings.mailboxId, this.entity, 'crm', id);
        } catch (err) {
          if (!isItemFailure(err)) throw err;
          this.figures.failed++;
          await this.deps.store.recordError(this.settings.mailboxId, {
            entity: this.entity,
            side: 'crm',
            itemKey: id,
            container: null,
            reason: `Exchange refused this ${this.entity}: ${readableReason(err)}`,
            retryAction: 'Edit the CRM record (or fix the mailbox); any change to it syncs it again',
          });
        }
      }
    }
  }

  private async pushRecord(id: string, record: Rec | null, matches: boolean, container: string, ownerBefore: string | null | undefined): Promise<void> {
    const link = this.byCrm.get(id);
    if (link?.state === 'untracked') {
      if (!record) {
        await this.deps.store.unlink(link.mailboxId, link.entity, link.crmId);
        this.forget(link);
      }
      return;
    }
    if (link) {
      if (!record || !matches) {
        const context = this.deleteContext(link, record, ownerBefore);
        const action = record ? filterOut(this.settings.unlinkOnly, context) : crmDeleted(context, this.settings.deleteRules);
        if (action === 'delete') {
          await this.source.delete(link.container, link.remoteId);
          this.figures.remoteWrites++;
        } else {
          await this.clearStamp(link.container, link.remoteId, link.changeKey);
        }
        await this.deps.store.unlink(link.mailboxId, link.entity, link.crmId);
        this.forget(link);
        this.figures.unlinked++;
        return;
      }
      // The mail server as last synced: a write on a stale change key re-reads it.
      const merged = mergeItem({
        fields: this.fieldsFor(record),
        crm: record,
        crmBase: link.crmSnapshot,
        remote: link.remoteSnapshot ?? {},
        remoteBase: link.remoteSnapshot,
        rule: this.settings.conflictRule,
        crmModifiedAt: record.modifiedAt,
        remoteModifiedAt: new Date(0),
      });
      const batch = emptyBatch();
      if (Object.keys(merged.toCrm).length > 0) {
        batch.writes.push(...this.crmWrites({ entity: this.entity, operation: 'update', id, values: merged.toCrm }, record));
        this.figures.crmWrites++;
      }
      const updated = { ...link, crmSnapshot: stillPending(snapshot({ ...record, ...merged.toCrm }, this.fieldsFor(record)), link.crmSnapshot, merged.toRemote) };
      this.remember(updated);
      batch.linksToSave.push(updated);
      await this.commit(batch.writes, batch.linksToSave, []);
      if (Object.keys(merged.toRemote).length > 0) await this.writeRemote(updated, merged.toRemote, record);
      return;
    }
    if (!record || !matches) return;
    const created = await this.source.create(container, this.toRemoteValues(record), id);
    this.figures.remoteWrites++;
    const fresh: ItemLink = {
      mailboxId: this.settings.mailboxId,
      entity: this.entity,
      container,
      remoteId: created.remoteId,
      crmId: id,
      changeKey: created.changeKey,
      crmSnapshot: snapshot(record, this.fieldsFor(record)),
      remoteSnapshot: this.remoteSnapshot(created.fields, record),
      state: 'synced',
    };
    this.remember(fresh);
    this.figures.linked++;
    // The event's iCalUId kept with the record: a later first enable of this mailbox finds the event by it.
    const uid = this.entity === 'appointment' && !record.iCalUId && created.matchKeys[0];
    await this.commit(uid ? [{ entity: 'appointment', operation: 'update', id, values: { iCalUId: uid } }] : [], [fresh], []);
  }

  /**
   * Writes merged values to the mail server with the link's change key. A 412 means the item changed
   * there: re-read it, merge again against the snapshots, and write what is still to write.
   */
  private async writeRemote(link: ItemLink, values: Values, record: Rec, attempt = 0): Promise<void> {
    const current = this.byCrm.get(link.crmId);
    if (!current) return; // Its link failed or went meanwhile.
    try {
      const written = await this.source.update(current.container, current.remoteId, current.changeKey, values);
      this.figures.remoteWrites++;
      const saved = {
        ...current,
        changeKey: written.changeKey,
        crmSnapshot: { ...current.crmSnapshot, ...snapshot(record, this.fieldsFor(record)) },
        // Only what was written moves the base: what the server changed on its own (To Do's completion
        // time) is an Exchange change the next pull merges, not a difference the CRM overwrites.
        remoteSnapshot: { ...current.remoteSnapshot, ...this.remoteSnapshot(pickFields(written.fields, Object.keys(values)), record) },
      };
      this.remember(saved);
      await this.deps.store.saveLink(saved);
      return;
    } catch (err) {
      if (!(err instanceof StaleChangeKeyError) || attempt >= STALE_RETRIES) throw err;
    }
    const item = await this.source.get(current.container, current.remoteId);
    if (!item) return; // Deleted meanwhile: the next pull applies the delete rule.
    const [fresh] = await this.read([current.crmId]);
    if (!fresh) return;
    const batch = emptyBatch();
    this.mergeLinked(current, fresh, item, batch, attempt + 1);
    await this.commit(batch.writes, batch.linksToSave, batch.unlinks);
    await this.runAfter(batch, current.container);
  }

  private async stampLink(link: ItemLink): Promise<void> {
    await this.stamped(link, await this.source.stamp(link.container, link.remoteId, link.changeKey, link.crmId));
  }

  /** The item carries the link's CRM id now, under `changeKey`. */
  private async stamped(link: ItemLink, changeKey: string): Promise<void> {
    const saved = { ...link, changeKey };
    this.remember(saved);
    await this.deps.store.saveLink(saved);
  }

  private async clearStamp(container: string, remoteId: string, changeKey: string): Promise<void> {
    try {
      await this.source.stamp(container, remoteId, changeKey, null);
    } catch (err) {
      // Changed since: the stamp stays; a later change of the item links nothing (its record is linked elsewhere or filtered out).
      if (!(err instanceof StaleChangeKeyError)) throw err;
    }
  }

  private async informConflict(record: Rec, fields: string[]): Promise<void> {
    this.figures.conflicts++;
    const label = (record.fullName ?? record.subject ?? record.id) as string;
    const winner = this.settings.conflictRule === 'crm_wins' ? 'the CRM value was kept' : 'the later change was kept';
    await this.deps.store.inform(
      this.settings.mailboxId,
      this.settings.ownerUserId,
      `The ${this.entity} "${label}" was changed in the CRM and in Exchange at once (${fields.join(', ')}): ${winner}`,
    );
  }
}

/** A CRM record as the engine compares it. */
type Rec = Values & { id: string; ownerUserId: string | null; modifiedAt: Date };

interface Batch {
  writes: ItemWrite[];
  linksToSave: ItemLink[];
  unlinks: ItemLink[];
  /** Mail-server writes, after the transaction. */
  after: (() => Promise<void>)[];
  /** Links whose item gets its CRM id stamped, after those writes (several in one request where the server can). */
  stamps: ItemLink[];
}

/**
 * The CRM snapshot while values are still on their way to the mail server: those fields keep their
 * old base, so a write refused with 412 is merged again as a CRM change, not lost to the item's value.
 */
function stillPending(next: Values, base: Values | null, toRemote: Values): Values {
  if (base === null) return next;
  const out = { ...next };
  for (const name of Object.keys(toRemote)) if (Object.hasOwn(base, name)) out[name] = base[name];
  return out;
}

const pickFields = (fields: ItemFields, names: string[]): ItemFields => Object.fromEntries(names.filter((n) => Object.hasOwn(fields, n)).map((n) => [n, fields[n]]));
const emptyBatch = (): Batch => ({ writes: [], linksToSave: [], unlinks: [], after: [], stamps: [] });
const remoteKey = (container: string, remoteId: string) => `${container}\n${remoteId}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The owner a record had before the first of its changes in a page. */
const ownerOf = (c: ItemChange, earlier: string | null | undefined) => (earlier !== undefined ? earlier : c.ownerBefore);
