import { crmLinks, customerMessage, exchangeMailbox, exchangeProfile, linkLines, mailboxLines } from './support/exchange';
import { startGraphFake, type GraphFake } from './support/graphFake';
import { eventually, TestBed } from './support/testBed';

let bed: TestBed;
let fake: GraphFake;

beforeAll(async () => {
  bed = await TestBed.create({ SYNC_BATCH_SIZE: '50', SYNC_CYCLE_MAX_ITEMS: '100' });
  fake = await startGraphFake({ users: [{ mail: 'budget@contoso.test' }] });
  await bed.startWorkers();
});

afterAll(async () => {
  await bed?.close();
  await fake?.close();
});

it('ends a delta round before the cycle budget ends the cycle: next links serve once, so a round cut short would start over every cycle', async () => {
  const user = 'budget@contoso.test';
  const mailbox = fake.mailbox(user);
  mailbox.addMessages('inbox', 600, (i) => customerMessage(i, user));
  mailbox.addMessages('archive', 60, (i) => customerMessage(1000 + i, user));
  const folders = { INBOX: 'inbox', Archive: 'archive' };
  const { id: profileId } = await bed.admin.createProfile(exchangeProfile('Contoso', fake));
  const { mailboxId } = await exchangeMailbox(bed, profileId, user, Object.keys(folders));

  await eventually('660 links', async () => (await crmLinks(bed, mailboxId)).length === 660, 60_000);
  expect(linkLines(await crmLinks(bed, mailboxId))).toEqual(mailboxLines(fake, user, folders));
  // No round was cut and resumed at a next link already served.
  expect(fake.requestLog.filter((r) => r.userId === mailbox.user.id && r.status === 410)).toEqual([]);
  // Each message once.
  const [{ n }] = await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM email_activities`);
  expect(n).toBe(660);
});
