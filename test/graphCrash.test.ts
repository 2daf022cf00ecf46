import { crmLinks, customerMessage, exchangeMailbox, exchangeProfile, linkLines, mailboxLines } from './support/exchange';
import { startGraphFake, type GraphFake } from './support/graphFake';
import { eventually, TestBed } from './support/testBed';
import { killHard, spawnWorker } from './support/workerProcess';

let bed: TestBed;
let fake: GraphFake;

beforeAll(async () => {
  bed = await TestBed.create({ SYNC_BATCH_SIZE: '50', ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '3' });
  fake = await startGraphFake({ users: [{ mail: 'crash@contoso.test' }] });
});

afterAll(async () => {
  await bed?.close();
  await fake?.close();
});

it('stores every message exactly once when the worker is killed in the middle of a delta sync', async () => {
  const total = 3000;
  const user = 'crash@contoso.test';
  const mailbox = fake.mailbox(user);
  mailbox.addMessages('inbox', 2000, (i) => customerMessage(i, user));
  mailbox.addMessages('archive', 1000, (i) => customerMessage(5000 + i, user));
  const folders = { INBOX: 'inbox', Archive: 'archive' };
  const { id: profileId } = await bed.admin.createProfile(exchangeProfile('Contoso', fake));
  const { mailboxId } = await exchangeMailbox(bed, profileId, user, Object.keys(folders));
  const stored = async () => (await crmLinks(bed, mailboxId)).length;
  const cursors = async () => bed.query<{ folder: string; cursor: { nextLink: string | null; deltaLink: string | null } }>(
    `SELECT folder, cursor FROM folder_cursors WHERE mailbox_id = $1 ORDER BY folder`,
    [mailboxId],
  );

  // Killed three times while it pages through the folders: each time it resumes at its stored next link.
  const killedAt: number[] = [];
  for (const atLeast of [300, 1200, 2200]) {
    const worker = spawnWorker(bed.env);
    const n = await eventually(`${atLeast} stored`, async () => {
      const count = await stored();
      return count >= atLeast ? count : undefined;
    }, 90_000, 50);
    await killHard(worker);
    killedAt.push(n);
  }
  expect(killedAt[killedAt.length - 1]).toBeLessThan(total);
  // Part-way through a round the cursor is a next link: the stored progress of the round.
  expect((await cursors()).some((c) => c.cursor.nextLink !== null)).toBe(true);

  const last = spawnWorker(bed.env);
  try {
    await eventually('the whole mailbox stored', async () => (await stored()) === total, 120_000);
    await eventually('both rounds ended', async () => (await cursors()).every((c) => c.cursor.deltaLink !== null && c.cursor.nextLink === null));
  } finally {
    await killHard(last);
  }
  expect(linkLines(await crmLinks(bed, mailboxId))).toEqual(mailboxLines(fake, user, folders));
  const [counts] = await bed.query<{ links: number; distinct_records: number; activities: number; message_ids: number }>(
    `SELECT (SELECT count(*) FROM item_links WHERE mailbox_id = $1)::int AS links,
            (SELECT count(DISTINCT crm_record_id) FROM item_links WHERE mailbox_id = $1)::int AS distinct_records,
            (SELECT count(*) FROM email_activities)::int AS activities,
            (SELECT count(DISTINCT message_id) FROM email_activities)::int AS message_ids`,
    [mailboxId],
  );
  expect(counts).toEqual({ links: total, distinct_records: total, activities: total, message_ids: total });
});
