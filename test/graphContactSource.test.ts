import { GraphContactSource } from '../src/mail/graph/graphContactSource';
import { StaleChangeKeyError } from '../src/sync/items/itemSource';
import { startGraphFake, type GraphFake } from './support/graphFake';
import { fakeSession, net, pullAll } from './support/graphItems';

// GraphContactSource against the Graph fake: delta per contact folder, the CRM id stamp, change keys.
let fake: GraphFake;

beforeAll(async () => {
  fake = await startGraphFake({ users: [] });
});
afterAll(async () => {
  await fake?.close();
});

function mailboxFor(address: string) {
  fake.addUser({ mail: address });
  return { source: new GraphContactSource(fakeSession(fake, address)), box: fake.mailbox(address) };
}

const crmContact = (n: number) => ({
  fullName: `Person ${n}`, firstName: 'Person', lastName: String(n), email: `person${n}@fabrikam.example`, jobTitle: 'Buyer',
  mobilePhone: `+1 555 01${String(n).padStart(2, '0')}`, fax: `+1 555 02${String(n).padStart(2, '0')}`, anniversary: '2001-05-06', address2City: 'Lyon',
});

it('finds the default contact folder, and pulls it page by page, then its changes and removals', async () => {
  const { source, box } = mailboxFor('contacts.pull@contoso.example');
  expect(await source.containers()).toEqual([box.contactFolders.contacts.id]);
  const [folder] = await source.containers();
  for (let n = 0; n < 130; n++) box.addContact({ displayName: `Seeded ${n}`, emailAddresses: [{ address: `Seeded${n}@Fabrikam.example` }] });

  const first = await pullAll(source, folder, null);
  expect(first.pages.length).toBeGreaterThan(1);
  expect(first.pages.map((p) => p.last)).toEqual([...first.pages.map(() => false).slice(1), true]);
  expect(first.pages.every((p) => !p.reset)).toBe(true);
  const all = net(first.pages).changed;
  expect(all.size).toBe(130);
  const seeded7 = [...all.values()].find((i) => i.fields.fullName === 'Seeded 7')!;
  expect(seeded7).toMatchObject({ crmId: null, matchKeys: ['seeded7@fabrikam.example', 'name:seeded 7'] });
  expect(seeded7.fields.email).toBe('Seeded7@Fabrikam.example');
  // Delta without $expand (Outlook has failed on it); the CRM ids and extra fields read twenty contacts to a $batch.
  const requests = fake.requestLog.filter((r) => r.userId === box.user.id);
  expect(requests.filter((r) => r.url.includes('/delta')).every((r) => !r.url.includes('expand'))).toBe(true);
  expect(requests.filter((r) => r.inBatch && r.url.includes('/contacts/')).length).toBe(130);

  box.updateContact(seeded7.remoteId, { jobTitle: 'Engineer' });
  const gone = [...all.values()].find((i) => i.fields.fullName === 'Seeded 8')!;
  box.deleteContact(gone.remoteId);
  const second = await pullAll(source, folder, first.cursor);
  const changes = net(second.pages);
  expect([...changes.changed.keys()]).toEqual([seeded7.remoteId]);
  expect(changes.changed.get(seeded7.remoteId)!.fields.jobTitle).toBe('Engineer');
  expect([...changes.removed]).toEqual([gone.remoteId]);
  expect(second.pages.every((p) => !p.reset)).toBe(true);
});

it('starts over marked reset when Graph forgot the delta token, at the start of a round or in its middle', async () => {
  const { source, box } = mailboxFor('contacts.reset@contoso.example');
  const [folder] = await source.containers();
  for (let n = 0; n < 120; n++) box.addContact({ displayName: `Kept ${n}` });
  const first = await pullAll(source, folder, null);

  fake.script.expireDeltaTokens();
  const afterExpiry = await pullAll(source, folder, first.cursor);
  expect(afterExpiry.pages.every((p) => p.reset)).toBe(true);
  expect(net(afterExpiry.pages).changed.size).toBe(120);

  fake.script.expireDeltaTokens({ midPaging: true });
  const midRound = await pullAll(source, folder, afterExpiry.cursor);
  // The first round (nothing changed) has one page; a fresh pull pages and loses its state on the second page.
  const fresh = await pullAll(source, folder, null);
  expect(midRound.pages.every((p) => !p.reset)).toBe(true);
  expect(fresh.pages[0].reset).toBe(false);
  expect(fresh.pages[fresh.pages.length - 1]).toMatchObject({ reset: true, last: true });
  const restarted = fresh.pages.slice(fresh.pages.findIndex((p) => p.reset));
  expect(net(restarted).changed.size).toBe(120);

  // Delta replays and duplicates are legal: the pages still net to the same contacts.
  fake.script.duplicates(true);
  try {
    expect(net((await pullAll(source, folder, null)).pages).changed.size).toBe(120);
  } finally {
    fake.script.duplicates(false);
  }
});

it('creates a contact stamped with its CRM id, reads it back the same, updates it only with its change key, clears the stamp, deletes it', async () => {
  const { source, box } = mailboxFor('contacts.write@contoso.example');
  const [folder] = await source.containers();
  const created = await source.create(folder, crmContact(1), 'crm-contact-1');
  expect(created.crmId).toBe('crm-contact-1');
  const read = (await source.get(folder, created.remoteId))!;
  expect(read).toMatchObject({ crmId: 'crm-contact-1', changeKey: created.changeKey });
  expect(read.fields).toMatchObject(crmContact(1));
  // Immutable ids (the fake's mailbox view lists those).
  expect(box.listContacts().map((c) => [c.id, c.displayName])).toEqual([[created.remoteId, 'Person 1']]);
  // The stamp is in our named property, where a lost link table finds it again.
  const { pages } = await pullAll(source, folder, null);
  expect(net(pages).changed.get(created.remoteId)!.crmId).toBe('crm-contact-1');

  box.updateContact(created.remoteId, { department: 'Changed in Outlook' });
  await expect(source.update(folder, created.remoteId, created.changeKey, { jobTitle: 'Director' })).rejects.toBeInstanceOf(StaleChangeKeyError);
  const fresh = (await source.get(folder, created.remoteId))!;
  const updated = await source.update(folder, created.remoteId, fresh.changeKey, { jobTitle: 'Director', email2: 'second@fabrikam.example', fax: null });
  expect(updated.changeKey).not.toBe(fresh.changeKey);
  const after = (await source.get(folder, created.remoteId))!;
  expect(after.fields).toEqual(updated.fields);
  expect(after.fields).toMatchObject({ jobTitle: 'Director', department: 'Changed in Outlook', email: 'person1@fabrikam.example', email2: 'second@fabrikam.example', fax: null });
  expect(after.changeKey).toBe(updated.changeKey);

  await expect(source.stamp(folder, created.remoteId, fresh.changeKey, null)).rejects.toBeInstanceOf(StaleChangeKeyError);
  const unstampedKey = await source.stamp(folder, created.remoteId, after.changeKey, null);
  const unstamped = (await source.get(folder, created.remoteId))!;
  expect(unstamped.crmId).toBeNull();
  expect(unstamped.changeKey).toBe(unstampedKey);

  await source.delete(folder, created.remoteId);
  expect(await source.get(folder, created.remoteId)).toBeNull();
  expect(box.listContacts()).toEqual([]);
  await source.delete(folder, created.remoteId);
});

it('gives up after a few fresh starts when Graph loses the sync state in the middle of every round', async () => {
  const { source, box } = mailboxFor('contacts.lost@contoso.example');
  const [folder] = await source.containers();
  for (let n = 0; n < 120; n++) box.addContact({ displayName: `Lost ${n}` });
  const userId = box.user.id;
  const before = fake.requestLog.length;
  fake.script.failNext({ count: 10, status: 410, code: 'SyncStateNotFound', path: /skiptoken/ });
  try {
    await expect(pullAll(source, folder, null)).rejects.toMatchObject({ syncStateLost: true });
  } finally {
    fake.script.reset();
  }
  const lost = fake.requestLog.slice(before).filter((r) => r.userId === userId && /skiptoken/i.test(r.url));
  expect(lost.map((r) => r.status)).toEqual([410, 410, 410, 410]);
});

it('stamps many contacts in $batch requests of twenty; a stale one comes back as such, a throttled step is written again on its own', async () => {
  const { source, box } = mailboxFor('contacts.stamps@contoso.example');
  const [folder] = await source.containers();
  const made = [];
  for (let n = 0; n < 45; n++) made.push(await source.create(folder, crmContact(n), `crm-contact-${n}`));
  box.updateContact(made[7].remoteId, { jobTitle: 'Changed in Outlook meanwhile' });
  fake.script.failNext({ count: 1, status: 429, code: 'ApplicationThrottled', retryAfterSeconds: 1, path: new RegExp(encodeURIComponent(made[30].remoteId)), methods: ['PATCH'] });
  const start = fake.requestLog.length;
  const results = await source.stampMany(made.map((m, n) => ({ container: folder, remoteId: m.remoteId, changeKey: m.changeKey, crmId: `restamped-${n}` })));

  expect(results[7]).toBeInstanceOf(StaleChangeKeyError);
  const written = fake.requestLog.slice(start).filter((e) => !e.inBatch);
  expect(written.filter((e) => e.url.includes('$batch'))).toHaveLength(3);
  expect(written.filter((e) => e.method === 'PATCH')).toHaveLength(1);
  for (const [n, m] of made.entries()) {
    if (n === 7) continue;
    const now = (await source.get(folder, m.remoteId))!;
    expect({ n, crmId: now.crmId, changeKey: now.changeKey }).toEqual({ n, crmId: `restamped-${n}`, changeKey: results[n] });
  }
  expect((await source.get(folder, made[7].remoteId))!.crmId).toBe('crm-contact-7');
});
