import { GraphFault, faults, opaque, json, preference, type FakeRequest, type FakeResponse } from './http';
import { render, parseSelect } from './render';
import { odataType, restId, type Container, type ItemRecord, type Store, type Tombstone } from './state';

/** Query options given on a round's first request and carried inside its tokens (graph.md §2.1). */
export interface DeltaOptions {
  select?: string[];
  expand?: string;
  /** `$filter=receivedDateTime ge|gt …` (messages). */
  receivedSince?: { inclusive: boolean; at: number };
  changeType?: 'created' | 'updated' | 'deleted';
  newestFirst: boolean;
  /** calendarView window, ms since epoch. */
  window?: { start: number; end: number; startText: string; endText: string };
  /** $top (a page-size hint like odata.maxpagesize). */
  top?: number;
}

interface Entry {
  core: string;
  /** Set for items gone from the container (deleted, moved out, out of the window). */
  removed?: Tombstone;
}

interface RoundState {
  kind: 'skip';
  container: Container;
  basePath: string;
  options: DeltaOptions;
  entries: Entry[];
  position: number;
  upToSeq: number;
  generation: number;
  emptyPageServed?: boolean;
}

interface LinkState {
  kind: 'delta';
  container: Container;
  basePath: string;
  options: DeltaOptions;
  sinceSeq: number;
  generation: number;
  /** An item of the previous round, sent again when replays are switched on. */
  replay?: string;
}

type TokenState = RoundState | LinkState;

/** Tokens kept; older ones are evicted like Exchange's sync-state cache does (graph.md §2.1). */
const tokenCapacity = 200_000;

export interface DeltaQuirks {
  /** Same item twice in a round, replays of the last round's item, an empty first page. */
  duplicates: boolean;
  /** One-shot: the next nextLink followed fails with 410. */
  failNextSkipToken: boolean;
  /** 410s carry a Location header with the initial request URL (synchronization reset). */
  withLocation: boolean;
  expiredCode: string;
}

export class DeltaEngine {
  private readonly tokens = new Map<string, TokenState>();
  generation = 0;
  readonly quirks: DeltaQuirks = { duplicates: false, failNextSkipToken: false, withLocation: false, expiredCode: 'SyncStateNotFound' };

  constructor(private readonly store: Store, private readonly origin: () => string) {}

  expire(options: { midPaging?: boolean; withLocation?: boolean; code?: string } = {}): void {
    this.quirks.withLocation = options.withLocation ?? false;
    this.quirks.expiredCode = options.code ?? 'SyncStateNotFound';
    if (options.midPaging) this.quirks.failNextSkipToken = true;
    else this.generation++;
  }

  reset(): void {
    Object.assign(this.quirks, { duplicates: false, failNextSkipToken: false, withLocation: false, expiredCode: 'SyncStateNotFound' });
  }

  private remember(state: TokenState): string {
    const token = opaque(36);
    this.tokens.set(token, state);
    if (this.tokens.size > tokenCapacity) this.tokens.delete(this.tokens.keys().next().value as string);
    return token;
  }

  private gone(request: FakeRequest, basePath: string, options?: DeltaOptions): GraphFault {
    const headers: Record<string, string> = {};
    if (this.quirks.withLocation) {
      // Like the initial request (graph.md §2.1): its options, and an empty $deltatoken.
      const query: string[] = [];
      if (options?.select) query.push(`$select=${options.select.join(',')}`);
      if (options?.expand) query.push(`$expand=${encodeURIComponent(options.expand)}`);
      if (options?.window) query.push(`startDateTime=${encodeURIComponent(options.window.startText)}`, `endDateTime=${encodeURIComponent(options.window.endText)}`);
      query.push('$deltatoken=');
      headers.location = `${this.origin()}/v1.0${basePath}?${query.join('&')}`;
    }
    void request;
    const generation = this.generation * 7 + 149;
    return new GraphFault(410, this.quirks.expiredCode,
      `The sync state generation is not found; generation=${generation};[highest=${generation + 8}][${generation + 8}][${generation + 6}][${generation + 7}].`, headers);
  }

  /**
   * Serves one delta request for a container. `parseOptions` reads the first request's query
   * options (they differ by resource); later requests carry them in the token.
   */
  serve(request: FakeRequest, container: Container, basePath: string, parseOptions: (query: URLSearchParams) => DeltaOptions): FakeResponse {
    const skipToken = queryValue(request.query, '$skiptoken');
    const deltaToken = queryValue(request.query, '$deltatoken');
    let round: RoundState;
    if (skipToken !== undefined) {
      const state = this.tokens.get(skipToken);
      if (!state || state.kind !== 'skip' || state.container !== container || state.generation < this.generation) {
        throw this.gone(request, basePath, state?.options);
      }
      if (this.quirks.failNextSkipToken) {
        this.quirks.failNextSkipToken = false;
        this.tokens.delete(skipToken);
        throw this.gone(request, basePath, state.options);
      }
      // Each nextLink serves once: an old page cannot be fetched again (observed, graph.md §2.1).
      this.tokens.delete(skipToken);
      round = state;
    } else if (deltaToken) {
      const state = this.tokens.get(deltaToken);
      if (!state || state.kind !== 'delta' || state.container !== container || state.generation < this.generation) {
        throw this.gone(request, basePath, state?.options);
      }
      round = this.startRound(container, state.basePath, state.options, state.sinceSeq, state.replay);
    } else {
      round = this.startRound(container, basePath, parseOptions(request.query), undefined, undefined);
    }
    return this.page(request, round);
  }

  private startRound(container: Container, basePath: string, options: DeltaOptions, sinceSeq: number | undefined, replay: string | undefined): RoundState {
    const upToSeq = this.store.currentSeq();
    let entries: Entry[] = [];
    const inWindow = (record: ItemRecord) => !options.window || overlapsWindow(record, options.window);
    const received = (record: ItemRecord) => {
      if (!options.receivedSince) return true;
      const at = Date.parse(String(record.data.receivedDateTime ?? record.data.createdDateTime));
      return options.receivedSince.inclusive ? at >= options.receivedSince.at : at > options.receivedSince.at;
    };
    if (sinceSeq === undefined) {
      if (options.changeType === undefined || options.changeType === 'created') {
        let records = [...container.items.values()].filter((r) => inWindow(r) && received(r));
        if (options.newestFirst) records.sort((a, b) => receivedAt(b) - receivedAt(a));
        if (options.receivedSince) records = records.slice(0, 5000);
        entries = records.map((r) => ({ core: r.core }));
      }
    } else {
      const changed: Array<Entry & { seq: number }> = [];
      for (const record of container.items.values()) {
        if (record.seq <= sinceSeq) continue;
        const created = record.createdSeq > sinceSeq;
        if (!inWindow(record)) {
          // Outside the window: reported as deleted, whatever happened (graph.md §2.4).
          if (!options.changeType || options.changeType === 'deleted') {
            changed.push({ core: record.core, seq: record.seq, removed: { core: record.core, restId: restId(record), seq: record.seq, kind: record.kind } });
          }
          continue;
        }
        if (options.changeType === 'deleted' || (options.changeType === 'created' && !created) || (options.changeType === 'updated' && created)) continue;
        changed.push({ core: record.core, seq: record.seq });
      }
      if (!options.changeType || options.changeType === 'deleted') {
        for (const tombstone of container.tombstones.values()) {
          if (tombstone.seq > sinceSeq && !container.items.has(tombstone.core)) changed.push({ core: tombstone.core, seq: tombstone.seq, removed: tombstone });
        }
      }
      changed.sort((a, b) => a.seq - b.seq);
      entries = changed.map(({ core, removed }) => ({ core, removed }));
      if (this.quirks.duplicates && replay && container.items.has(replay)) entries.unshift({ core: replay });
    }
    if (this.quirks.duplicates) entries = withDuplicates(entries);
    return { kind: 'skip', container, basePath, options, entries, position: 0, upToSeq, generation: this.generation };
  }

  private page(request: FakeRequest, round: RoundState): FakeResponse {
    const preferred = Number(preference(request.headers, 'odata.maxpagesize'));
    const size = Math.min(1000, Math.max(1, Number.isFinite(preferred) && preferred > 0 ? preferred : round.options.top ?? 10));
    const immutableIds = preference(request.headers, 'IdType')?.toLowerCase() === 'immutableid';
    const bodyAsText = preference(request.headers, 'outlook.body-content-type')?.toLowerCase() === 'text';
    // An empty page first, now and then, as Graph does (graph.md §2.1).
    const emptyPage = this.quirks.duplicates && round.position === 0 && round.entries.length > 0 && !round.emptyPageServed;
    const slice = emptyPage ? [] : round.entries.slice(round.position, round.position + size);
    const value = slice.map((entry) => this.renderEntry(round, entry, immutableIds, bodyAsText)).filter((item): item is Record<string, unknown> => item !== undefined);
    const next: RoundState = { ...round, position: round.position + slice.length, emptyPageServed: true };
    const body: Record<string, unknown> = {
      '@odata.context': `${this.origin()}/v1.0/$metadata#Collection(${odataType[round.container.kind].replace('#microsoft.graph.', '')})`,
    };
    if (next.position < round.entries.length || emptyPage) {
      body['@odata.nextLink'] = `${this.origin()}/v1.0${round.basePath}?$skiptoken=${this.remember(next)}`;
    } else {
      const lastLive = [...round.entries].reverse().find((entry) => !entry.removed && round.container.items.has(entry.core));
      body['@odata.deltaLink'] = `${this.origin()}/v1.0${round.basePath}?$deltatoken=${this.remember({
        kind: 'delta', container: round.container, basePath: round.basePath, options: round.options, sinceSeq: round.upToSeq,
        generation: round.generation, replay: lastLive?.core,
      })}`;
    }
    body.value = value;
    return json(200, body, Number.isFinite(preferred) && preferred > 0 ? { 'preference-applied': `odata.maxpagesize=${size}` } : {});
  }

  private renderEntry(round: RoundState, entry: Entry, immutableIds: boolean, bodyAsText: boolean): Record<string, unknown> | undefined {
    const record = round.container.items.get(entry.core);
    if (entry.removed || !record) {
      const tombstone = entry.removed ?? round.container.tombstones.get(entry.core);
      if (!tombstone) return undefined;
      return { '@odata.type': odataType[tombstone.kind], id: immutableIds ? tombstone.core : tombstone.restId, '@removed': { reason: 'deleted' } };
    }
    if (record.kind === 'event' && record.data.type === 'occurrence') {
      // Observed: occurrences come trimmed to these properties (graph.md §2.4).
      const full = render(record, { immutableIds, withType: true });
      return {
        '@odata.type': full['@odata.type'], '@odata.etag': full['@odata.etag'], id: full.id,
        seriesMasterId: record.data.seriesMasterId, type: 'occurrence', start: record.data.start, end: record.data.end,
      };
    }
    return render(record, { select: round.options.select, expand: round.options.expand, immutableIds, withType: true, bodyAsText });
  }
}

function withDuplicates(entries: Entry[]): Entry[] {
  const out: Entry[] = [];
  entries.forEach((entry, index) => {
    out.push(entry);
    if (index % 7 === 3) out.push({ ...entry });
  });
  return out;
}

function receivedAt(record: ItemRecord): number {
  return Date.parse(String(record.data.receivedDateTime ?? record.data.createdDateTime));
}

export function overlapsWindow(record: ItemRecord, window: { start: number; end: number }): boolean {
  if (record.kind === 'event' && record.data.type === 'seriesMaster') {
    // A series is in the window when one of its instances is (the master carries the first one's times).
    const instances = [...record.container.items.values()].filter((r) => r.data.seriesMasterId === record.core);
    if (instances.some((r) => overlapsWindow(r, window))) return true;
  }
  const start = eventTime(record.data.start);
  const end = eventTime(record.data.end);
  return start < window.end && end > window.start;
}

export function eventTime(value: unknown): number {
  const dateTime = (value as { dateTime?: string } | undefined)?.dateTime;
  if (!dateTime) return NaN;
  return Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(dateTime) ? dateTime : `${dateTime}Z`);
}

/** Query parameter lookup ignoring case ($deltaToken vs $deltatoken). */
export function queryValue(query: URLSearchParams, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of query) if (key.toLowerCase() === lower) return value;
  return undefined;
}

/** Options common to message, contact and task delta. */
export function parseCommonDeltaOptions(query: URLSearchParams, allowMessageOptions: boolean): DeltaOptions {
  const options: DeltaOptions = { newestFirst: false };
  options.select = parseSelect(queryValue(query, '$select'));
  options.expand = queryValue(query, '$expand');
  const top = queryValue(query, '$top');
  if (top !== undefined) {
    const n = Number(top);
    if (!Number.isInteger(n) || n < 1) throw faults.badRequest(`Invalid $top value '${top}'.`);
    options.top = n;
  }
  const filter = queryValue(query, '$filter');
  if (filter) {
    const match = allowMessageOptions && /^\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*$/i.exec(filter);
    if (!match || Number.isNaN(Date.parse(match[2]))) {
      throw faults.badRequest(`The query filter '${filter}' is not supported for delta; only 'receivedDateTime ge|gt {value}' is.`, 'ErrorInvalidUrlQueryFilter');
    }
    options.receivedSince = { inclusive: match[1].toLowerCase() === 'ge', at: Date.parse(match[2]) };
  }
  const orderBy = queryValue(query, '$orderby');
  if (orderBy) {
    if (!allowMessageOptions || !/^\s*receivedDateTime\s+desc\s*$/i.test(orderBy)) {
      throw faults.badRequest(`The $orderby '${orderBy}' is not supported for delta; only 'receivedDateTime desc' is.`, 'ErrorInvalidUrlQuery');
    }
    options.newestFirst = true;
  }
  const changeType = queryValue(query, 'changeType');
  if (changeType) {
    if (!allowMessageOptions || !['created', 'updated', 'deleted'].includes(changeType)) {
      throw faults.badRequest(`Invalid changeType '${changeType}'.`, 'ErrorInvalidUrlQuery');
    }
    options.changeType = changeType as DeltaOptions['changeType'];
  }
  if (queryValue(query, '$search')) throw faults.badRequest('$search is not supported for delta.', 'ErrorInvalidUrlQuery');
  return options;
}
