import type { SourceCursor } from '../mailSource';
import { isItemFailure, ItemRejectedError, StaleChangeKeyError, type ItemPage, type ItemStamp, type RemoteItem } from '../../sync/items/itemSource';
import { GraphRequestError, type GraphRequest, type GraphSession } from './graphSession';

/**
 * What the Graph item sources (contacts, events, To Do tasks) share: the request preferences, the
 * delta round with its restart on a lost sync state, and the change-key handling of writes.
 */

/**
 * The CRM id stamped on contacts and events: a named property in the product's own namespace
 * (graph.md §4.1), so links survive a lost link table and copies are recognised.
 */
export const CRM_ITEM_ID_PROPERTY = 'String {b7d3f0a2-5c49-4e1b-8f6a-93e2c41d7a58} Name CrmId';

/** Items per delta page asked for; Graph may send fewer. */
export const ITEM_PAGE_SIZE = 100;

/** Sent on every request: immutable ids (graph.md §3) and the page size. */
export const ITEM_PREFER = [`odata.maxpagesize=${ITEM_PAGE_SIZE}`, 'IdType="ImmutableId"'];

/** Where a delta round stands: a nextLink mid-round, or the deltaLink of the next round. */
export interface DeltaCursor {
  nextLink?: string;
  deltaLink?: string;
  /** The round the nextLink belongs to started over after a lost sync state: it lists everything. */
  reset?: boolean;
}

export interface DeltaValue {
  id?: string;
  '@removed'?: { reason?: string };
  [key: string]: unknown;
}

interface DeltaResponse {
  value?: DeltaValue[];
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
}

const MAX_RESTARTS = 3;

/** The toItems of a source whose delta items are whole and whose removals are removals. */
export const asListed =
  (toItem: (value: DeltaValue) => RemoteItem) =>
  async (values: DeltaValue[], removed: string[]): Promise<{ changed: RemoteItem[]; removed: string[] }> => ({ changed: values.map(toItem), removed });

/**
 * Walks a delta round from `cursor` (or `firstUrl`), turning each page's values into items. A lost
 * sync state (410, SyncStateNotFound, also mid-round) starts a new round from `firstUrl` marked
 * reset; a lost state on that very first request is thrown.
 */
export async function* deltaRound(
  session: GraphSession,
  firstUrl: string,
  cursor: SourceCursor | null,
  toItems: (values: DeltaValue[], removedIds: string[]) => Promise<{ changed: RemoteItem[]; removed: string[] }>,
): AsyncIterable<ItemPage> {
  const start = (cursor ?? {}) as DeltaCursor;
  let url = start.nextLink ?? start.deltaLink ?? firstUrl;
  let reset = start.nextLink !== undefined && start.reset === true;
  let restarts = 0;
  for (;;) {
    let response: DeltaResponse;
    try {
      response = await session.request<DeltaResponse>({ method: 'GET', url, prefer: ITEM_PREFER });
    } catch (err) {
      // A few fresh starts, not an endless loop when Graph keeps losing the state in the middle of every round.
      if (err instanceof GraphRequestError && err.syncStateLost && url !== firstUrl && restarts++ < MAX_RESTARTS) {
        url = firstUrl;
        reset = true;
        continue;
      }
      throw err;
    }
    const values = response.value ?? [];
    const { changed, removed } = await toItems(
      values.filter((v) => !v['@removed'] && v.id),
      values.filter((v) => v['@removed'] && v.id).map((v) => v.id!),
    );
    const nextLink = response['@odata.nextLink'];
    const deltaLink = response['@odata.deltaLink'];
    if (!nextLink && !deltaLink) throw new Error(`Microsoft Graph ended a delta page with neither a nextLink nor a deltaLink (${firstUrl})`);
    const next: DeltaCursor = nextLink ? { nextLink, ...(reset ? { reset: true } : {}) } : { deltaLink };
    yield { changed, removed, cursor: next as SourceCursor, reset, last: !nextLink };
    if (!nextLink) return;
    url = nextLink;
  }
}

/** Runs a write carrying a change key; a 412 becomes StaleChangeKeyError. */
export async function writeWithChangeKey<T>(session: GraphSession, remoteId: string, changeKey: string, req: Omit<GraphRequest, 'headers' | 'prefer'>): Promise<T> {
  try {
    return await itemWrite<T>(session, { ...req, headers: { 'If-Match': `W/"${changeKey}"` } }, remoteId);
  } catch (err) {
    if (err instanceof GraphRequestError && err.statusCode === 412) throw new StaleChangeKeyError(remoteId);
    throw err;
  }
}

// Answers that refuse the one item written (its values, its state), not the mailbox or the moment.
const ITEM_REFUSALS = new Set([400, 404, 409, 413, 422]);

/**
 * A write of one item (`remoteId`; null for a create): Graph refusing that item is an
 * ItemRejectedError the engine keeps against it; a mailbox-level refusal (an unknown user, a
 * permission missing) and every other failure stay what they are.
 */
export async function itemWrite<T>(session: GraphSession, req: Omit<GraphRequest, 'prefer'>, remoteId: string | null, prefer = ITEM_PREFER): Promise<T> {
  try {
    return await session.request<T>({ ...req, prefer });
  } catch (err) {
    if (err instanceof GraphRequestError && ITEM_REFUSALS.has(err.statusCode) && err.errorClass !== 'permanent' && !err.syncStateLost) {
      throw new ItemRejectedError(remoteId, err.message);
    }
    throw err;
  }
}

/** GET of one item; null when Graph no longer has it. */
export async function getOrNull<T>(session: GraphSession, url: string, prefer = ITEM_PREFER): Promise<T | null> {
  try {
    return await session.request<T>({ method: 'GET', url, prefer });
  } catch (err) {
    if (err instanceof GraphRequestError && err.statusCode === 404) return null;
    throw err;
  }
}

/** The PATCH body that stamps an Outlook item with its CRM id, or clears it (Graph cannot remove an extended property through PATCH: an empty value means "not linked"). */
export const crmIdStamp = (crmId: string | null) => ({ singleValueExtendedProperties: [{ id: CRM_ITEM_ID_PROPERTY, value: crmId ?? '' }] });

/**
 * An Outlook item collection (`/users/x/contacts`, `/users/x/events`): the CRM id stamp, one or many,
 * and the delete, which contacts and events share.
 */
export class OutlookItems {
  constructor(
    private readonly session: GraphSession,
    private readonly collection: string,
  ) {}

  private url(remoteId: string): string {
    return `${this.collection}/${pathId(remoteId)}`;
  }

  async stamp(remoteId: string, changeKey: string, crmId: string | null): Promise<string> {
    // The PATCH answers with the item as it is now: its change key needs no second read.
    return changeKeyOf(await writeWithChangeKey<object>(this.session, remoteId, changeKey, { method: 'PATCH', url: this.url(remoteId), body: crmIdStamp(crmId) }));
  }

  stampMany(stamps: ItemStamp[]): Promise<(string | ItemRejectedError | StaleChangeKeyError)[]> {
    return patchMany(this.session, stamps.map((s) => ({ ...s, url: this.url(s.remoteId), body: crmIdStamp(s.crmId) })));
  }

  delete(remoteId: string): Promise<void> {
    return deleteItem(this.session, this.url(remoteId), remoteId);
  }
}

/** Requests per $batch: Graph takes at most 20 (graph.md §6.3). */
const BATCH_SIZE = 20;

/**
 * GETs of several paths (under the version, such as `/users/x/contacts/id`) in $batch requests;
 * a step that failed (throttled, say) is asked again on its own, with the session's retries. An
 * item Graph no longer has comes back null.
 */
export async function getMany<T>(session: GraphSession, paths: string[], prefer = ITEM_PREFER): Promise<(T | null)[]> {
  const results: (T | null)[] = paths.map(() => null);
  for (let first = 0; first < paths.length; first += BATCH_SIZE) {
    const chunk = paths.slice(first, first + BATCH_SIZE);
    const answer = await session.request<{ responses: Array<{ id: string; status: number; body?: unknown }> }>({
      method: 'POST',
      url: '/$batch',
      body: { requests: chunk.map((url, i) => ({ id: String(i), method: 'GET', url, headers: { Prefer: prefer.join(', ') } })) },
      prefer,
      // Only reads inside: asking again is harmless.
      repeatable: true,
    });
    for (const step of answer.responses) {
      const i = Number(step.id);
      if (step.status === 200) results[first + i] = step.body as T;
      else if (step.status !== 404) results[first + i] = await getOrNull<T>(session, chunk[i], prefer);
    }
  }
  return results;
}

/**
 * PATCHes of several items, each with its change key, in $batch requests. A step refused for its
 * change key is stale; one Graph answered otherwise than 200 is written again on its own (the
 * session's retries, and its answer classified as a single write's would be): each item's new change
 * key, or its own failure.
 */
export async function patchMany(
  session: GraphSession,
  steps: { url: string; remoteId: string; changeKey: string; body: unknown }[],
): Promise<(string | ItemRejectedError | StaleChangeKeyError)[]> {
  const results: (string | ItemRejectedError | StaleChangeKeyError)[] = [];
  for (let first = 0; first < steps.length; first += BATCH_SIZE) {
    const chunk = steps.slice(first, first + BATCH_SIZE);
    const answer = await session.request<{ responses: Array<{ id: string; status: number; body?: unknown }> }>({
      method: 'POST',
      url: '/$batch',
      body: {
        requests: chunk.map((step, i) => ({
          id: String(i),
          method: 'PATCH',
          url: step.url,
          headers: { 'Content-Type': 'application/json', 'If-Match': `W/"${step.changeKey}"`, Prefer: ITEM_PREFER.join(', ') },
          body: step.body,
        })),
      },
      prefer: ITEM_PREFER,
      // A write asked twice after a lost answer would meet its own change: each step is checked below instead.
      repeatable: false,
    });
    const byId = new Map(answer.responses.map((r) => [Number(r.id), r]));
    for (const [i, step] of chunk.entries()) {
      const response = byId.get(i);
      if (response?.status === 200 && response.body) {
        results.push(changeKeyOf(response.body));
        continue;
      }
      if (response?.status === 412) {
        results.push(new StaleChangeKeyError(step.remoteId));
        continue;
      }
      try {
        results.push(changeKeyOf(await writeWithChangeKey<object>(session, step.remoteId, step.changeKey, { method: 'PATCH', url: step.url, body: step.body })));
      } catch (err) {
        if (!isItemFailure(err)) throw err;
        results.push(err);
      }
    }
  }
  return results;
}

/** DELETE of (a part of) item `remoteId` that treats what is already gone as deleted. */
export async function deleteItem(session: GraphSession, url: string, remoteId: string): Promise<void> {
  try {
    await session.request({ method: 'DELETE', url, prefer: ITEM_PREFER });
  } catch (err) {
    if (err instanceof GraphRequestError && err.statusCode === 404) return;
    if (err instanceof GraphRequestError && ITEM_REFUSALS.has(err.statusCode) && err.errorClass !== 'permanent') throw new ItemRejectedError(remoteId, err.message);
    throw err;
  }
}

/** The change key of an item: `changeKey` on Outlook items, the ETag on To Do tasks. */
/** When Graph last changed the item: the later-wins conflict rule compares it with the CRM record's. */
export function modifiedAtOf(item: { lastModifiedDateTime?: string | null }): Date | undefined {
  const at = item.lastModifiedDateTime ? new Date(item.lastModifiedDateTime) : undefined;
  return at && !Number.isNaN(at.getTime()) ? at : undefined;
}

export function changeKeyOf(item: object): string {
  const { changeKey, '@odata.etag': etagValue } = item as { changeKey?: string | null; '@odata.etag'?: unknown };
  if (changeKey) return changeKey;
  const etag = typeof etagValue === 'string' ? etagValue : '';
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

/** The `$expand` of single-value extended properties with these ids. */
export function expandProperties(ids: string[]): string {
  return `singleValueExtendedProperties($filter=${ids.map((id) => `id eq '${id}'`).join(' or ')})`;
}

/** An extended property's value from an item read with expandProperties; null when absent. */
export function propertyValue(item: { singleValueExtendedProperties?: Array<{ id?: string | null; value?: string | null }> | null }, id: string): string | null {
  const found = item.singleValueExtendedProperties?.find((p) => sameProperty(p.id ?? '', id));
  return found?.value ?? null;
}

/**
 * Graph may answer a property id with another case of the GUID or type; the names we read are
 * ours alone and differ by more than case, so a case-blind match finds exactly them.
 */
function sameProperty(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export const pathId = (id: string): string => encodeURIComponent(id);
