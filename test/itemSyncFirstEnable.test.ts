import type { PgCrmItems } from '../src/crm/pgCrmItems';
import type { PgCrmRecords } from '../src/crm/crmRecords';
import { GraphContactSource } from '../src/mail/graph/graphContactSource';
import type { PgItemSyncStore } from '../src/store/itemSyncStore';
import { syncItems } from '../src/sync/items/itemSync';
import type { GraphFake } from './support/graphFake';
import { changeLogSettled, fakeSession, net, pullAll, useItemEngineBed } from './support/graphItems';
import { exchangeMailbox } from './support/graphMailbox';
import type { TestBed } from './support/testBed';

// First enable on a mailbox that already has contacts: 500 in Exchange, 300 of them already CRM
// contacts (200 by the same address and name, 100 by the CRM id an earlier link stamped on them).
// The 300 are linked, never created again; the other 200 enter the CRM only with the tracking
// category. A second cycle writes nothing on either side.

let bed: TestBed, fake: GraphFake, crm: PgCrmItems, records: PgCrmRecords, store: PgItemSyncStore;
useItemEngineBed((opened) => void ({ bed, fake, crm, records, store } = opened));

const EXISTING = 500;
const BY_ADDRESS = 200;
const BY_STAMP = 100;
const IN_CRM = BY_ADDRESS + BY_STAMP;
const OTHERS = EXISTING - IN_CRM;

let boxes = 0;
/** A mailbox whose Exchange holds the 500 contacts and whose owner has the 300 in the CRM. */
async function existingMailbox(othersTracked: boolean) {
  const address = `firstenable${++boxes}@contoso.example`;
  fake.addUser({ mail: address });
  const { mailboxId, userId } = await exchangeMailbox(bed, fake, address);
  const source = new GraphContactSource(fakeSession(fake, address));
  const mb = fake.mailbox(address);
  const [container] = await source.containers();
  for (let n = 0; n < EXISTING; n++) {
    const inCrm = n < IN_CRM;
    const categories = !inCrm && othersTracked ? ['Tracked to CRM'] : [];
    // The address in other capitals: the match ignores case.
    const contact = mb.addContact({ displayName: `Person ${n}`, givenName: 'Person', surname: `${n}`, emailAddresses: [{ address: `Person${n}@Fabrikam.example` }], categories });
    if (!inCrm) continue;
    const record = await records.contacts.create({
      fullName: `Person ${n}`,
      firstName: 'Person',
      lastName: `${n}`,
      // The stamped ones changed address since their earlier link: only the stamp matches them.
      email: n < BY_ADDRESS ? `person${n}@fabrikam.example` : `person${n}@new.fabrikam.example`,
      ownerUserId: userId,
    });
    if (n >= BY_ADDRESS) await source.stamp(container, contact.id!, contact.changeKey!, record.id);
  }
  const graphUser = fake.users.find((u) => u.mail === address)!.id;
  return {
    mailboxId,
    userId,
    contacts: () => mb.listContacts(),
    /** The CRM id each Exchange contact carries, by its id. */
    stamps: async () => new Map([...net((await pullAll(source, container, null)).pages).changed.values()].map((c) => [c.remoteId, c.crmId])),
    sync: async () => {
      await changeLogSettled(bed);
      await syncItems(mailboxId, [source], { crm, store });
    },
    /** Graph writes for this mailbox from now on. */
    writesFrom: () => {
      const start = fake.requestLog.length;
      return () => fake.requestLog.slice(start).filter((e) => e.userId === graphUser && e.method !== 'GET');
    },
    /** CRM writes by this mailbox's sync from now on. */
    crmWritesFrom: async () => {
      const [{ p }] = await bed.query<{ p: string }>(`SELECT coalesce(max(position), 0)::text AS p FROM crm_change_log`);
      return async () => bed.query(`SELECT operation, record_id FROM crm_change_log WHERE position > $1 AND origin = $2`, [p, `mailbox:${mailboxId}`]);
    },
    crmContacts: () => bed.query<{ id: string; email: string }>(`SELECT id, lower(email) AS email FROM contacts WHERE owner_user_id = $1`, [userId]),
    links: () => bed.query<{ crm_record_id: string; remote_id: string; link_state: string }>(`SELECT crm_record_id, remote_id, link_state FROM item_links WHERE mailbox_id = $1 AND item_type = 'contact'`, [mailboxId]),
  };
}

type Box = Awaited<ReturnType<typeof existingMailbox>>;

/** Every Exchange contact once, every CRM contact once, every link to a distinct item and record. */
async function expectNoDuplicates(box: Box, crmCount: number, linkCount: number) {
  const contacts = box.contacts();
  expect(contacts).toHaveLength(EXISTING);
  expect(new Set(contacts.map((c) => c.displayName)).size).toBe(EXISTING);
  const rows = await box.crmContacts();
  expect(rows).toHaveLength(crmCount);
  expect(new Set(rows.map((r) => r.email)).size).toBe(crmCount);
  const links = await box.links();
  expect(links).toHaveLength(linkCount);
  expect(new Set(links.map((l) => l.remote_id)).size).toBe(linkCount);
  expect(new Set(links.map((l) => l.crm_record_id)).size).toBe(linkCount);
  const ids = new Set(rows.map((r) => r.id));
  expect(links.every((l) => ids.has(l.crm_record_id))).toBe(true);
  // Each linked item carries its record's id, so a later first round recognises it; the others carry none.
  const linked = new Map(links.map((l) => [l.remote_id, l.crm_record_id]));
  const stamps = await box.stamps();
  expect(stamps.size).toBe(EXISTING);
  for (const [remoteId, crmId] of stamps) expect([remoteId, crmId]).toEqual([remoteId, linked.get(remoteId) ?? null]);
}

async function expectSecondCycleQuiet(box: Box) {
  const writes = box.writesFrom();
  const crmWrites = await box.crmWritesFrom();
  await box.sync();
  expect(writes()).toEqual([]);
  expect(await crmWrites()).toEqual([]);
}

it('with the tracking category on the other 200: 300 links to existing records, 200 new CRM contacts, nothing created in Exchange', async () => {
  const box = await existingMailbox(true);
  const before = new Map((await box.crmContacts()).map((r) => [r.email, r.id]));
  const writes = box.writesFrom();
  await box.sync();

  expect(writes().filter((w) => w.method === 'POST')).toEqual([]);
  await expectNoDuplicates(box, EXISTING, EXISTING);
  const links = await box.links();
  const byRemote = new Map(box.contacts().map((c) => [c.id!, c.displayName!]));
  // The 300 are linked to the records they already were, each to its own item.
  const toExisting = links.filter((l) => [...before.values()].includes(l.crm_record_id));
  expect(toExisting).toHaveLength(IN_CRM);
  expect(toExisting.every((l) => l.link_state === 'synced')).toBe(true);
  for (let n = 0; n < IN_CRM; n++) {
    const id = before.get(n < BY_ADDRESS ? `person${n}@fabrikam.example` : `person${n}@new.fabrikam.example`)!;
    expect(byRemote.get(links.find((l) => l.crm_record_id === id)!.remote_id)).toBe(`Person ${n}`);
  }
  expect(links.filter((l) => l.link_state === 'tracked')).toHaveLength(OTHERS);

  await expectSecondCycleQuiet(box);
  await expectNoDuplicates(box, EXISTING, EXISTING);
});

it('without the tracking category: 300 links, the other 200 ignored, no CRM record for them, nothing created in Exchange', async () => {
  const box = await existingMailbox(false);
  const writes = box.writesFrom();
  const crmWrites = await box.crmWritesFrom();
  await box.sync();

  expect(writes().filter((w) => w.method === 'POST')).toEqual([]);
  expect((await crmWrites()).filter((w) => (w as { operation: string }).operation === 'insert')).toEqual([]);
  await expectNoDuplicates(box, IN_CRM, IN_CRM);
  expect((await box.links()).every((l) => l.link_state === 'synced')).toBe(true);
  const unlinked = box.contacts().filter((c) => Number(c.surname) >= IN_CRM).map((c) => c.id!);
  const linkedRemote = new Set((await box.links()).map((l) => l.remote_id));
  expect(unlinked.filter((id) => linkedRemote.has(id))).toEqual([]);

  await expectSecondCycleQuiet(box);
  await expectNoDuplicates(box, IN_CRM, IN_CRM);
});
