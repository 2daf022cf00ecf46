import { GraphSession } from '../../src/mail/graph/graphSession';
import type { SourceCursor } from '../../src/mail/mailSource';
import type { ItemPage, ItemSource } from '../../src/sync/items/itemSource';
import { PgCrmItems } from '../../src/crm/pgCrmItems';
import { PgCrmRecords } from '../../src/crm/crmRecords';
import { PgItemSyncStore } from '../../src/store/itemSyncStore';
import { startGraphFake, type GraphFake } from './graphFake';
import { eventually, TestBed } from './testBed';

/** What the item engine's tests work with: a test bed, the Graph fake, the CRM's items and records, the link store. */
export interface ItemEngineBed {
  bed: TestBed;
  fake: GraphFake;
  crm: PgCrmItems;
  records: PgCrmRecords;
  store: PgItemSyncStore;
}

/** Opens an ItemEngineBed before the file's tests (handing it to `take`) and closes it after them. */
export function useItemEngineBed(take: (opened: ItemEngineBed) => void | Promise<void>): void {
  let bed: TestBed | undefined;
  let fake: GraphFake | undefined;
  beforeAll(async () => {
    bed = await TestBed.create();
    fake = await startGraphFake({ users: [] });
    await take({ bed, fake, crm: new PgCrmItems(bed.pool), records: new PgCrmRecords(bed.pool), store: new PgItemSyncStore(bed.pool) });
  });
  afterAll(async () => {
    await fake?.close();
    await bed?.close();
  });
}

/** A Graph session on the fake for one of its users, with the fake's default app. */
export function fakeSession(fake: GraphFake, address: string): GraphSession {
  return new GraphSession(
    {
      tenantId: fake.tenantId,
      clientId: fake.clientId,
      credential: { kind: 'secret', secret: fake.clientSecret },
      graphBaseUrl: fake.graphBaseUrl,
      authorityHost: fake.authorityHost,
      user: address,
      requestTimeoutMs: 30_000,
    },
    { retry: { maxAttempts: 3, maxInlineWaitMs: 2_000, baseDelayMs: 10 } },
  );
}

/** One whole pull: every page, and the cursor of the last. */
export async function pullAll(source: ItemSource, container: string, cursor: SourceCursor | null): Promise<{ pages: ItemPage[]; cursor: SourceCursor }> {
  const pages: ItemPage[] = [];
  for await (const page of source.pull(container, cursor)) pages.push(page);
  return { pages, cursor: pages[pages.length - 1].cursor };
}

/** The last state of each item a pull listed (delta may list one twice), and what it removed. */
export function net(pages: ItemPage[]): { changed: Map<string, ItemPage['changed'][number]>; removed: Set<string> } {
  const changed = new Map<string, ItemPage['changed'][number]>();
  const removed = new Set<string>();
  for (const page of pages) {
    for (const item of page.changed) changed.set(item.remoteId, item);
    for (const id of page.removed) removed.add(id);
  }
  return { changed, removed };
}

/**
 * Waits until the CRM change log holds nothing a sync would hold back. CrmItems.changesSince reads
 * only changes below the oldest transaction still running in the whole PostgreSQL cluster, and the
 * other test files' transactions share this cluster: without the wait, a sync right after a CRM edit
 * may see it only at its next run.
 */
export async function changeLogSettled(bed: TestBed): Promise<void> {
  await eventually(
    'the change log readable to its end',
    async () => (await bed.query(`SELECT 1 FROM crm_change_log WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot()) LIMIT 1`)).length === 0,
    30_000,
    10,
  );
}
