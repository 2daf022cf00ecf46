import { GraphSession } from '../../src/mail/graph/graphSession';
import type { SourceCursor } from '../../src/mail/mailSource';
import type { ItemPage, ItemSource } from '../../src/sync/items/itemSource';
import type { GraphFake } from './graphFake';
import { eventually, type TestBed } from './testBed';

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
