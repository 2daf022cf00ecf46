import type { Calendar, Event } from '@microsoft/microsoft-graph-types';
import type { SourceCursor } from '../mailSource';
import type { SeriesException } from '../../policy/seriesExceptions';
import { StaleChangeKeyError, type ItemFields, type ItemPage, type ItemRejectedError, type ItemSource, type ItemStamp, type RemoteItem } from '../../sync/items/itemSource';
import {
  eventFromGraph,
  eventMatchKeys,
  eventToGraph,
  eventZone,
  exceptionToGraph,
  seriesExceptions,
} from './graphEventMapper';
import {
  CRM_ITEM_ID_PROPERTY,
  ITEM_PREFER,
  changeKeyOf,
  modifiedAtOf,
  deltaRound,
  expandProperties,
  getMany,
  getOrNull,
  deleteItem,
  itemWrite,
  OutlookItems,
  pathId,
  propertyValue,
  writeWithChangeKey,
  type DeltaValue,
} from './graphItems';
import { calendarSpan, DEFAULT_CALENDAR_WINDOW, needsNewCalendarRound, type CalendarWindow } from '../../policy/calendarWindow';
import { fromGraphDateTime } from './graphTime';
import type { GraphSession } from './graphSession';

/** A calendar cursor: Graph's links, and the window its round covers (instants, ISO). */
type EventCursor = SourceCursor & { windowFrom?: string; windowUntil?: string };

const dayMs = 24 * 3600 * 1000;

/** Bodies as text: the CRM keeps plain text. */
const EVENT_PREFER = [...ITEM_PREFER, 'outlook.body-content-type="text"'];
const EXPAND = `$expand=${encodeURIComponent(expandProperties([CRM_ITEM_ID_PROPERTY]))}`;

/**
 * A mailbox's primary calendar in Graph. calendarView/delta lists single events, series masters,
 * occurrences and exceptions in the window, without $expand: each changed event or series is read
 * again by id (with its CRM id; a series with its instances, from which its exceptions follow). A
 * series is one item; its moved and cancelled occurrences are its `exceptions`. An event reported
 * removed is looked up: Graph reports events that left the window that way too (graph.md §2.4).
 * Graph v1.0 has no delta for other calendars, and writes go to the primary calendar (`/events`).
 */
export class GraphEventSource implements ItemSource {
  readonly entity = 'appointment' as const;

  constructor(
    private readonly session: GraphSession,
    private readonly window: CalendarWindow = DEFAULT_CALENDAR_WINDOW,
    private readonly now: () => number = Date.now,
  ) {}

  private get base(): string {
    return this.session.userPath;
  }

  private get items(): OutlookItems {
    return new OutlookItems(this.session, `${this.base}/events`);
  }

  private span(): { from: number; until: number } {
    return calendarSpan(this.now(), this.window);
  }

  async containers(): Promise<string[]> {
    const calendar = await this.session.request<Calendar>({ method: 'GET', url: `${this.base}/calendar`, prefer: ITEM_PREFER });
    return [calendar.id!];
  }

  /**
   * The calendar's changes over today's window. A round begun over a window that no longer is
   * today's (src/policy/calendarWindow.ts) is read to its end first, for what was deleted since, and
   * a new round over today's window follows: it lists what is in the window now, merged with the
   * links; an appointment that left the window keeps its link (CRM changes still reach it).
   */
  async *pull(_container: string, cursor: SourceCursor | null): AsyncIterable<ItemPage> {
    const wanted = this.span();
    const stored = cursor as EventCursor | null;
    const covered = stored?.windowFrom && stored.windowUntil ? { from: Date.parse(stored.windowFrom), until: Date.parse(stored.windowUntil) } : null;
    if (!stored) {
      yield* this.round(wanted, null);
      return;
    }
    if (covered && !needsNewCalendarRound(covered, wanted)) {
      yield* this.round(covered, stored);
      return;
    }
    yield* this.round(covered ?? wanted, stored);
    yield* this.round(wanted, null);
  }

  private async *round(span: { from: number; until: number }, cursor: SourceCursor | null): AsyncIterable<ItemPage> {
    const [windowFrom, windowUntil] = [new Date(span.from).toISOString(), new Date(span.until).toISOString()];
    const first = `${this.base}/calendarView/delta?startDateTime=${windowFrom}&endDateTime=${windowUntil}`;
    for await (const page of deltaRound(this.session, first, cursor, (values, removed) => this.itemsOf(values, removed))) {
      yield { ...page, cursor: { ...page.cursor, windowFrom, windowUntil } };
    }
  }

  /** Each event or series a delta page touches, read whole (twenty to a $batch); removals that are no removals dropped. */
  private async itemsOf(values: DeltaValue[], removedIds: string[]): Promise<{ changed: RemoteItem[]; removed: string[] }> {
    const ids = new Set(values.map((v) => (typeof v.seriesMasterId === 'string' && v.seriesMasterId ? v.seriesMasterId : v.id!)));
    const removed: string[] = [];
    const stillThere = await getMany<Event>(this.session, removedIds.map((id) => `${this.base}/events/${pathId(id)}?$select=id,type,seriesMasterId`), EVENT_PREFER);
    removedIds.forEach((id, i) => {
      const event = stillThere[i];
      if (!event) removed.push(id);
      else ids.add(event.seriesMasterId ?? id);
    });
    const wanted = [...ids];
    const events = await getMany<Event>(this.session, wanted.map((id) => `${this.base}/events/${pathId(id)}?${EXPAND}`), EVENT_PREFER);
    const changed: RemoteItem[] = [];
    for (const [i, event] of events.entries()) {
      const item = event ? await this.remoteEvent(event) : null;
      if (item) changed.push(item);
      else removed.push(wanted[i]);
    }
    return { changed, removed };
  }

  async get(_container: string, remoteId: string): Promise<RemoteItem | null> {
    const event = await getOrNull<Event>(this.session, `${this.base}/events/${pathId(remoteId)}?${EXPAND}`, EVENT_PREFER);
    return event ? this.remoteEvent(event) : null;
  }

  /** The item of an event: a series with its exceptions; an occurrence or exception stands for its series. */
  private async remoteEvent(event: Event): Promise<RemoteItem | null> {
    if (event.seriesMasterId && event.type !== 'seriesMaster') return this.get('', event.seriesMasterId);
    const exceptions = event.type === 'seriesMaster' ? seriesExceptions(event, await this.instances(event), this.seriesStart(event), this.seriesEnd(event)) : [];
    return {
      remoteId: event.id!,
      changeKey: changeKeyOf(event),
      modifiedAt: modifiedAtOf(event),
      crmId: propertyValue(event, CRM_ITEM_ID_PROPERTY) || null,
      categories: event.categories ?? [],
      matchKeys: eventMatchKeys(event),
      fields: eventFromGraph(event, exceptions),
    };
  }

  /**
   * The first instant whose occurrences are read: the series' first, before the window too, so the
   * exceptions of occurrences that have left the window stay exceptions rather than vanish (the CRM
   * would take that for their removal).
   */
  private seriesStart(master: Event): number {
    const first = Date.parse(fromGraphDateTime(master.start) ?? '');
    return Number.isNaN(first) ? this.span().from : first;
  }

  /** The last instant whose occurrences are read: the series' end date, or the window's end. */
  private seriesEnd(master: Event): number {
    const { until } = this.span();
    const end = master.recurrence?.range?.type === 'endDate' && master.recurrence.range.endDate ? Date.parse(`${master.recurrence.range.endDate}T23:59:59Z`) + dayMs : until;
    return Math.min(end, until);
  }

  private async instances(master: Event): Promise<Event[]> {
    const from = this.seriesStart(master);
    const until = this.seriesEnd(master);
    if (until <= from) return [];
    let url: string | undefined =
      `${this.base}/events/${pathId(master.id!)}/instances?startDateTime=${new Date(from).toISOString()}&endDateTime=${new Date(until).toISOString()}&$top=500`;
    const all: Event[] = [];
    while (url) {
      const page: { value: Event[]; '@odata.nextLink'?: string } = await this.session.request({ method: 'GET', url, prefer: EVENT_PREFER });
      all.push(...page.value);
      url = page['@odata.nextLink'];
    }
    return all;
  }

  async create(_container: string, fields: ItemFields, crmId: string): Promise<RemoteItem> {
    const { exceptions, ...own } = fields;
    const body: Event = { ...eventToGraph(own), singleValueExtendedProperties: [{ id: CRM_ITEM_ID_PROPERTY, value: crmId }] };
    // Not repeated: a create that may have happened would make a second event.
    const created = await itemWrite<Event>(this.session, { method: 'POST', url: `${this.base}/events`, body, repeatable: false }, null, EVENT_PREFER);
    const exceptionList = (exceptions as SeriesException[] | undefined) ?? [];
    if (own.recurrence && exceptionList.length) await this.writeExceptions(created, [], exceptionList, fields);
    return this.mustGet(created.id!);
  }

  async update(_container: string, remoteId: string, changeKey: string, fields: ItemFields): Promise<RemoteItem> {
    const current = await this.get('', remoteId);
    if (!current || current.changeKey !== changeKey) throw new StaleChangeKeyError(remoteId);
    const { exceptions, ...own } = fields;
    const all = { ...current.fields, ...fields };
    const patch = eventToGraph(own, all);
    let master: Event = { id: remoteId };
    if (Object.keys(patch).length) {
      master = await writeWithChangeKey<Event>(this.session, remoteId, changeKey, { method: 'PATCH', url: `${this.base}/events/${pathId(remoteId)}`, body: patch });
    }
    if (exceptions !== undefined && all.recurrence) {
      const before = own.recurrence !== undefined || own.startsAt !== undefined ? [] : (current.fields.exceptions as SeriesException[]);
      await this.writeExceptions(master, before, (exceptions as SeriesException[]) ?? [], all);
    }
    return this.mustGet(remoteId);
  }

  /**
   * Makes the series' occurrences carry `wanted` exceptions: moves or changes them, cancels them, and
   * puts back into the series' shape those no longer exceptions. A cancelled occurrence cannot come
   * back: Graph has no way to restore one.
   */
  private async writeExceptions(master: Event, before: SeriesException[], wanted: SeriesException[], all: ItemFields): Promise<void> {
    const whole = (await getOrNull<Event>(this.session, `${this.base}/events/${pathId(master.id!)}`, EVENT_PREFER))!;
    const zone = eventZone(whole);
    const byOriginal = new Map((await this.instances(whole)).map((i) => [Date.parse(i.originalStart ?? fromGraphDateTime(i.start) ?? ''), i]));
    const key = (e: SeriesException) => Date.parse(e.originalStart);
    const wantedKeys = new Set(wanted.map(key));
    const duration = Date.parse(String(all.endsAt)) - Date.parse(String(all.startsAt));
    const undo = before
      .filter((e) => !e.cancelled && !wantedKeys.has(key(e)))
      .map((e): SeriesException => ({
        originalStart: e.originalStart, cancelled: false, startsAt: e.originalStart, endsAt: new Date(key(e) + duration).toISOString(),
        subject: (all.subject as string | null) ?? null, location: (all.location as string | null) ?? null, description: (all.description as string | null) ?? null,
      }));
    for (const exception of [...wanted, ...undo]) {
      if (sameException(exception, before.find((b) => key(b) === key(exception)))) continue;
      const instance = byOriginal.get(key(exception));
      if (!instance?.id) continue;
      const url = `${this.base}/events/${pathId(instance.id)}`;
      if (exception.cancelled) await deleteItem(this.session, url, master.id!);
      else await itemWrite(this.session, { method: 'PATCH', url, body: exceptionToGraph(exception, zone, all.allDay === true) }, master.id!);
    }
  }

  stamp(_container: string, remoteId: string, changeKey: string, crmId: string | null): Promise<string> {
    return this.items.stamp(remoteId, changeKey, crmId);
  }

  stampMany(stamps: ItemStamp[]): Promise<(string | ItemRejectedError | StaleChangeKeyError)[]> {
    return this.items.stampMany(stamps);
  }

  delete(_container: string, remoteId: string): Promise<void> {
    return this.items.delete(remoteId);
  }

  private async mustGet(remoteId: string): Promise<RemoteItem> {
    const item = await this.get('', remoteId);
    if (!item) throw new Error(`The event ${remoteId} vanished while it was written`);
    return item;
  }
}

function sameException(a: SeriesException, b: SeriesException | undefined): boolean {
  if (!b || a.cancelled !== b.cancelled) return false;
  const instant = (v: string | undefined) => (v === undefined ? undefined : Date.parse(v));
  return (
    a.cancelled ||
    (instant(a.startsAt) === instant(b.startsAt) && instant(a.endsAt) === instant(b.endsAt) &&
      (a.subject ?? null) === (b.subject ?? null) && (a.location ?? null) === (b.location ?? null) && (a.description ?? null) === (b.description ?? null))
  );
}
