import type { PgCrmItems } from '../src/crm/pgCrmItems';
import type { PgCrmRecords } from '../src/crm/crmRecords';
import { GraphContactSource } from '../src/mail/graph/graphContactSource';
import type { PgItemSyncStore } from '../src/store/itemSyncStore';
import { syncItems } from '../src/sync/items/itemSync';
import type { GraphFake } from './support/graphFake';
import { changeLogSettled, fakeSession, useItemEngineBed } from './support/graphItems';
import { exchangeMailbox } from './support/graphMailbox';
import type { TestBed } from './support/testBed';

// The two-way item engine on contacts, against real PostgreSQL and the Graph fake: round trips each
// way, no echo, filters and reassignment, unlink only, conflicts, the 412 path, first enable.

let bed: TestBed, fake: GraphFake, crm: PgCrmItems, records: PgCrmRecords, store: PgItemSyncStore;
useItemEngineBed((opened) => void ({ bed, fake, crm, records, store } = opened));

interface Box {
  address: string;
  mailboxId: string;
  userId: string;
  source: GraphContactSource;
  sync: () => Promise<void>;
}

let boxes = 0;
async function mailbox(): Promise<Box> {
  const address = `items${++boxes}@contoso.example`;
  fake.addUser({ mail: address });
  const { mailboxId, userId } = await exchangeMailbox(bed, fake, address);
  const source = new GraphContactSource(fakeSession(fake, address));
  const sync = async () => {
    await changeLogSettled(bed);
    await syncItems(mailboxId, [source], { crm, store });
  };
  return { address, mailboxId, userId, source, sync };
}

/** The Graph writes (not reads) made for `address` from now on. */
function writesFrom(address: string) {
  const userId = fake.users.find((u) => u.mail === address)!.id;
  const start = fake.requestLog.length;
  return () => fake.requestLog.slice(start).filter((e) => e.userId === userId && e.method !== 'GET');
}

/** CRM change-log entries written by sync for this mailbox from now on. */
async function changesFrom(mailboxId: string) {
  const [{ p }] = await bed.query<{ p: string }>(`SELECT coalesce(max(position), 0)::text AS p FROM crm_change_log`);
  return async () =>
    bed.query<{ operation: string; record_id: string }>(`SELECT operation, record_id FROM crm_change_log WHERE position > $1 AND origin = $2 ORDER BY position`, [p, `mailbox:${mailboxId}`]);
}

const contactsOf = (box: Box) => fake.mailbox(box.address).listContacts();
const linksOf = (box: Box) => bed.query<{ crm_record_id: string; remote_id: string; link_state: string }>(`SELECT crm_record_id, remote_id, link_state FROM item_links WHERE mailbox_id = $1 AND item_type = 'contact'`, [box.mailboxId]);

describe('contacts, CRM -> Exchange', () => {
  it('creates, updates field by field and removes, one Graph write per change, nothing back', async () => {
    const box = await mailbox();
    const writes = writesFrom(box.address);
    const changes = await changesFrom(box.mailboxId);
    const ann = await records.contacts.create({ fullName: 'Ann Lee', firstName: 'Ann', lastName: 'Lee', email: 'ann@fabrikam.example', jobTitle: 'Buyer', mobilePhone: '+1 555 0100', ownerUserId: box.userId });
    await box.sync();
    expect(contactsOf(box)).toEqual([expect.objectContaining({ displayName: 'Ann Lee', jobTitle: 'Buyer', mobilePhone: '+1 555 0100' })]);
    expect((await linksOf(box)).map((l) => l.crm_record_id)).toEqual([ann.id]);
    expect(writes().map((w) => w.method)).toEqual(['POST']);

    // Its own write comes back in the next delta: no write either way.
    await box.sync();
    await box.sync();
    expect(writes().map((w) => w.method)).toEqual(['POST']);
    expect(await changes()).toEqual([]);

    for (const [field, value, graph] of [
      ['jobTitle', 'Head of purchasing', 'jobTitle'],
      ['department', 'Purchasing', 'department'],
      ['mobilePhone', '+1 555 0199', 'mobilePhone'],
      ['companyName', 'Fabrikam', 'companyName'],
    ] as const) {
      const before = writes().length;
      await records.contacts.update(ann.id, { [field]: value });
      await box.sync();
      expect(writes().length).toBe(before + 1);
      expect(contactsOf(box)[0]).toEqual(expect.objectContaining({ [graph]: value }));
    }
    expect(await changes()).toEqual([]);

    // Deactivated: it no longer matches "my active contacts" and leaves Exchange.
    await records.contacts.update(ann.id, { state: 'inactive' });
    await box.sync();
    expect(contactsOf(box)).toEqual([]);
    expect(await linksOf(box)).toEqual([]);
    expect(writes().at(-1)!.method).toBe('DELETE');
  });

  it("keeps the owner's copy of a deleted contact unlinked (Dynamics), or deletes it when configured", async () => {
    const box = await mailbox();
    const kept = await records.contacts.create({ fullName: 'Kept Copy', email: 'kept@fabrikam.example', ownerUserId: box.userId });
    const gone = await records.contacts.create({ fullName: 'Gone Copy', email: 'gone@fabrikam.example', ownerUserId: box.userId });
    await box.sync();
    expect(contactsOf(box)).toHaveLength(2);
    await records.contacts.delete(kept.id);
    await box.sync();
    expect(contactsOf(box).map((c) => c.displayName)).toEqual(expect.arrayContaining(['Kept Copy', 'Gone Copy']));
    expect((await linksOf(box)).map((l) => l.crm_record_id)).toEqual([gone.id]);
    // The organisation's setting: a contact deleted in the CRM leaves every mailbox, the owner's too.
    await bed.admin.updateOrganizationSettings({ itemsDeleteContactFromCrm: 'delete' });
    try {
      await records.contacts.delete(gone.id);
      await box.sync();
      expect(contactsOf(box).map((c) => c.displayName)).toEqual(['Kept Copy']);
      expect(await linksOf(box)).toEqual([]);
    } finally {
      await bed.admin.updateOrganizationSettings({ itemsDeleteContactFromCrm: 'dynamics' });
    }
  });

  it('with "unlink only", a contact that stops matching stays in Exchange, unlinked', async () => {
    const box = await mailbox();
    await bed.query(`UPDATE organization_settings SET items_unlink_only = true`);
    try {
      const c = await records.contacts.create({ fullName: 'Stays Put', email: 'stays@fabrikam.example', ownerUserId: box.userId });
      await box.sync();
      const writes = writesFrom(box.address);
      await records.contacts.update(c.id, { state: 'inactive' });
      await box.sync();
      expect(contactsOf(box).map((x) => x.displayName)).toEqual(['Stays Put']);
      expect(await linksOf(box)).toEqual([]);
      expect(writes().map((w) => w.method)).not.toContain('DELETE');
    } finally {
      await bed.query(`UPDATE organization_settings SET items_unlink_only = false`);
    }
  });

  it("moves a reassigned contact from A's mailbox to B's", async () => {
    const a = await mailbox();
    const b = await mailbox();
    const c = await records.contacts.create({ fullName: 'Moving On', email: 'moving@fabrikam.example', ownerUserId: a.userId });
    await a.sync();
    await b.sync();
    expect(contactsOf(a).map((x) => x.displayName)).toEqual(['Moving On']);
    expect(contactsOf(b)).toEqual([]);
    await records.contacts.update(c.id, { ownerUserId: b.userId });
    await a.sync();
    await b.sync();
    expect(contactsOf(a)).toEqual([]);
    expect(contactsOf(b).map((x) => x.displayName)).toEqual(['Moving On']);
  });

  it('adds and removes what an edited filter covers', async () => {
    const box = await mailbox();
    const lyon = await records.contacts.create({ fullName: 'In Lyon', email: 'lyon@fabrikam.example', address1City: 'Lyon', ownerUserId: box.userId });
    await records.contacts.create({ fullName: 'In Paris', email: 'paris@fabrikam.example', address1City: 'Paris', ownerUserId: box.userId });
    await box.sync();
    expect(contactsOf(box)).toHaveLength(2);
    const [filter] = await bed.query<{ id: string; rules: unknown }>(`SELECT id, rules FROM sync_filters WHERE user_id = $1 AND entity = 'contact'`, [box.userId]);
    const rules = filter.rules as { conditions?: unknown[] };
    await bed.query(`UPDATE sync_filters SET rules = $2 WHERE id = $1`, [
      filter.id,
      JSON.stringify({ ...rules, conditions: [...(rules.conditions ?? []), { field: 'address1City', op: 'eq', value: 'Paris' }] }),
    ]);
    await box.sync();
    expect(contactsOf(box).map((x) => x.displayName)).toEqual(['In Paris']);
    expect((await linksOf(box)).some((l) => l.crm_record_id === lyon.id)).toBe(false);
    // And back: the filter covers Lyon again.
    await bed.query(`UPDATE sync_filters SET rules = $2 WHERE id = $1`, [filter.id, JSON.stringify(rules)]);
    await box.sync();
    expect(contactsOf(box).map((x) => x.displayName).sort()).toEqual(['In Lyon', 'In Paris']);
  });
});

describe('contacts, Exchange -> CRM', () => {
  it('updates the CRM record field by field with one CRM write each, and nothing back to Exchange', async () => {
    const box = await mailbox();
    const c = await records.contacts.create({ fullName: 'Bea Ray', firstName: 'Bea', lastName: 'Ray', email: 'bea@fabrikam.example', ownerUserId: box.userId });
    await box.sync();
    const [remote] = contactsOf(box);
    for (const [patch, field, value] of [
      [{ jobTitle: 'Engineer' }, 'jobTitle', 'Engineer'],
      [{ department: 'R&D' }, 'department', 'R&D'],
      [{ mobilePhone: '+1 555 0142' }, 'mobilePhone', '+1 555 0142'],
      [{ businessPhones: ['+1 555 0143'] as string[] }, 'businessPhone', '+1 555 0143'],
    ] as const) {
      const writes = writesFrom(box.address);
      const changes = await changesFrom(box.mailboxId);
      fake.mailbox(box.address).updateContact(remote.id!, patch);
      await box.sync();
      expect((await records.contacts.get(c.id))[field as 'jobTitle']).toBe(value);
      expect(await changes()).toEqual([{ operation: 'update', record_id: c.id }]);
      expect(writes()).toEqual([]);
    }
  });

  it("deletes the CRM record when the owner deletes the Exchange contact", async () => {
    const box = await mailbox();
    const c = await records.contacts.create({ fullName: 'Del Me', email: 'delme@fabrikam.example', ownerUserId: box.userId });
    await box.sync();
    fake.mailbox(box.address).deleteContact(contactsOf(box)[0].id!);
    await box.sync();
    expect(await bed.query(`SELECT id FROM contacts WHERE id = $1`, [c.id])).toEqual([]);
    expect(await linksOf(box)).toEqual([]);
  });

  it('tracks a contact with the category, stamps it, and unlinks it (keeping the record) when the category goes', async () => {
    const box = await mailbox();
    const mb = fake.mailbox(box.address);
    mb.addContact({ displayName: 'Not Tracked', emailAddresses: [{ address: 'nt@fabrikam.example' }] });
    const tracked = mb.addContact({ displayName: 'Tracked One', givenName: 'Tracked', surname: 'One', emailAddresses: [{ address: 't1@fabrikam.example' }], jobTitle: 'CFO', categories: ['Tracked to CRM'] });
    await box.sync();
    const rows = await bed.query<{ id: string; job_title: string; owner_user_id: string }>(`SELECT id, job_title, owner_user_id FROM contacts WHERE full_name IN ('Tracked One', 'Not Tracked')`);
    expect(rows).toEqual([{ id: expect.any(String), job_title: 'CFO', owner_user_id: box.userId }]);
    expect(await linksOf(box)).toEqual([{ crm_record_id: rows[0].id, remote_id: tracked.id, link_state: 'tracked' }]);
    const [container] = await box.source.containers();
    expect((await box.source.get(container, tracked.id!))!.crmId).toBe(rows[0].id);

    // Category removed: the record stays, nothing syncs either way (the filters do not push it back).
    mb.updateContact(tracked.id!, { categories: [] });
    await box.sync();
    expect(await linksOf(box)).toEqual([{ crm_record_id: rows[0].id, remote_id: tracked.id, link_state: 'untracked' }]);
    expect((await box.source.get(container, tracked.id!))!.crmId).toBeNull();
    await records.contacts.update(rows[0].id, { jobTitle: 'Changed in the CRM' });
    await box.sync();
    expect(mb.listContacts().map((x) => [x.displayName, x.jobTitle]).sort()).toEqual([['Not Tracked', null], ['Tracked One', 'CFO']]);

    // Category back: the same record, linked again (the CRM's value kept).
    mb.updateContact(tracked.id!, { categories: ['Tracked to CRM'] });
    await box.sync();
    expect(await linksOf(box)).toEqual([{ crm_record_id: rows[0].id, remote_id: tracked.id, link_state: 'tracked' }]);
    expect(mb.listContacts().find((x) => x.id === tracked.id)!.jobTitle).toBe('Changed in the CRM');
    expect(await bed.query(`SELECT id FROM contacts WHERE full_name = 'Tracked One'`)).toHaveLength(1);
  });
});

describe('contacts, item errors', () => {
  it('keeps a contact the CRM refuses as an item error with its reason and what to do, and links it once corrected', async () => {
    const box = await mailbox();
    const mb = fake.mailbox(box.address);
    const bad = mb.addContact({ displayName: 'Bad Address', emailAddresses: [{ address: 'not an address' }], categories: ['Tracked to CRM'] });
    mb.addContact({ displayName: 'Good Address', emailAddresses: [{ address: 'good@fabrikam.example' }], categories: ['Tracked to CRM'] });
    await box.sync();
    expect((await bed.query<{ full_name: string }>(`SELECT full_name FROM contacts WHERE owner_user_id = $1`, [box.userId])).map((r) => r.full_name)).toEqual(['Good Address']);
    const errors = await store.errors(box.mailboxId);
    expect(errors).toEqual([
      expect.objectContaining({ entity: 'contact', side: 'exchange', itemKey: bad.id, reason: expect.stringMatching(/CRM refused the create of this contact/), retryAction: expect.stringMatching(/next cycle/) }),
    ]);

    mb.updateContact(bad.id!, { emailAddresses: [{ address: 'bad.fixed@fabrikam.example' }] });
    await box.sync();
    expect(await store.errors(box.mailboxId)).toEqual([]);
    expect((await bed.query<{ full_name: string }>(`SELECT full_name FROM contacts WHERE owner_user_id = $1 ORDER BY full_name`, [box.userId])).map((r) => r.full_name)).toEqual(['Bad Address', 'Good Address']);
    expect(await linksOf(box)).toHaveLength(2);
  });
});

describe('contacts, Exchange refusing writes', () => {
  it("keeps a write Exchange refuses while it merges a pulled change as that item's error; the others sync, and the next cycle retries it", async () => {
    const box = await mailbox();
    const one = await records.contacts.create({ fullName: 'Fay Refused', email: 'fay@fabrikam.example', jobTitle: 'A', ownerUserId: box.userId });
    const two = await records.contacts.create({ fullName: 'Gus Fine', email: 'gus@fabrikam.example', jobTitle: 'A', ownerUserId: box.userId });
    await box.sync();
    const mb = fake.mailbox(box.address);
    const remoteOf = (name: string) => mb.listContacts().find((c) => c.displayName === name)!;
    // Both changed on both sides: the pull's merge writes the CRM's fields back to Exchange.
    for (const [c, name] of [[one, 'Fay Refused'], [two, 'Gus Fine']] as const) {
      await records.contacts.update(c.id, { jobTitle: 'Title from the CRM' });
      mb.updateContact(remoteOf(name).id!, { department: 'Department from Exchange' });
    }
    // Refused twice: when the pull merges it, and when the same run retries its error.
    fake.script.failNext({ count: 2, status: 400, code: 'ErrorInvalidPropertyValue', path: new RegExp(encodeURIComponent(remoteOf('Fay Refused').id!)), methods: ['PATCH'] });
    await box.sync();
    // The run went on: the other contact synced, the refused one's CRM side took Exchange's change,
    // and the CRM push that followed wrote its CRM change.
    expect(remoteOf('Gus Fine')).toEqual(expect.objectContaining({ jobTitle: 'Title from the CRM', department: 'Department from Exchange' }));
    expect((await records.contacts.get(one.id)).department).toBe('Department from Exchange');
    expect(await store.errors(box.mailboxId)).toEqual([
      expect.objectContaining({
        side: 'exchange',
        itemKey: remoteOf('Fay Refused').id,
        attempts: 2,
        reason: expect.stringMatching(/Exchange refused a write to this contact: .*ErrorInvalidPropertyValue/),
      }),
    ]);

    // The next cycle reads it again: nothing left to write, the error goes.
    await box.sync();
    expect(remoteOf('Fay Refused').jobTitle).toBe('Title from the CRM');
    expect(await store.errors(box.mailboxId)).toEqual([]);
  });

  it('ends the run when Exchange fails as a whole during the CRM push, and pushes the change on the next run', async () => {
    const box = await mailbox();
    const c = await records.contacts.create({ fullName: 'Hal Later', email: 'hal@fabrikam.example', ownerUserId: box.userId });
    await box.sync();
    await records.contacts.update(c.id, { jobTitle: 'Pushed after the outage' });
    fake.script.failNext({ count: 20, status: 503, code: 'ServiceUnavailable', methods: ['PATCH'] });
    await expect(box.sync()).rejects.toThrow(/unavailable/i);
    expect(await store.errors(box.mailboxId)).toEqual([]);
    fake.script.reset();
    await box.sync();
    expect(contactsOf(box)[0].jobTitle).toBe('Pushed after the outage');
  });
});

describe('contacts, conflicts', () => {
  it('keeps concurrent edits of different fields on both sides', async () => {
    const box = await mailbox();
    const c = await records.contacts.create({ fullName: 'Cy Two', email: 'cy@fabrikam.example', jobTitle: 'A', department: 'B', ownerUserId: box.userId });
    await box.sync();
    await records.contacts.update(c.id, { jobTitle: 'CRM title' });
    fake.mailbox(box.address).updateContact(contactsOf(box)[0].id!, { department: 'Exchange department' });
    await box.sync();
    expect(await records.contacts.get(c.id)).toEqual(expect.objectContaining({ jobTitle: 'CRM title', department: 'Exchange department' }));
    expect(contactsOf(box)[0]).toEqual(expect.objectContaining({ jobTitle: 'CRM title', department: 'Exchange department' }));
    expect(await bed.query(`SELECT message FROM alerts WHERE mailbox_id = $1`, [box.mailboxId])).toEqual([]);
  });

  it('resolves the same field by the later change and raises an information alert', async () => {
    const box = await mailbox();
    const c = await records.contacts.create({ fullName: 'Di Same', email: 'di@fabrikam.example', jobTitle: 'Start', ownerUserId: box.userId });
    await box.sync();
    await records.contacts.update(c.id, { jobTitle: 'Earlier in the CRM' });
    await new Promise((r) => setTimeout(r, 20));
    fake.mailbox(box.address).updateContact(contactsOf(box)[0].id!, { jobTitle: 'Later in Exchange' });
    await box.sync();
    expect((await records.contacts.get(c.id)).jobTitle).toBe('Later in Exchange');
    expect(contactsOf(box)[0].jobTitle).toBe('Later in Exchange');
    const alerts = await bed.query<{ level: string; message: string }>(`SELECT level, message FROM alerts WHERE mailbox_id = $1`, [box.mailboxId]);
    expect(alerts).toEqual([{ level: 'information', message: expect.stringMatching(/Di Same.*jobTitle/) }]);
  });

  it('takes the 412 path: re-reads, merges and writes again', async () => {
    const box = await mailbox();
    const c = await records.contacts.create({ fullName: 'Ed Stale', email: 'ed@fabrikam.example', jobTitle: 'One', ownerUserId: box.userId });
    await box.sync();
    await records.contacts.update(c.id, { jobTitle: 'Two' });
    fake.script.failNext({ count: 1, status: 412, code: 'ErrorIrresolvableConflict', methods: ['PATCH'] });
    const writes = writesFrom(box.address);
    await box.sync();
    expect(writes().map((w) => `${w.method} ${w.status}`)).toEqual(['PATCH 412', 'PATCH 200']);
    expect(contactsOf(box)[0].jobTitle).toBe('Two');
  });
});

describe('contacts, first enable', () => {
  it('links existing Exchange contacts that are CRM contacts instead of creating them again', async () => {
    const box = await mailbox();
    const mb = fake.mailbox(box.address);
    for (let n = 0; n < 10; n++) mb.addContact({ displayName: `Existing ${n}`, emailAddresses: [{ address: `Existing${n}@Fabrikam.example` }] });
    const inCrm = [];
    for (let n = 0; n < 6; n++) inCrm.push(await records.contacts.create({ fullName: `Existing ${n}`, email: `existing${n}@fabrikam.example`, jobTitle: 'From the CRM', ownerUserId: box.userId }));
    for (let n = 0; n < 3; n++) await records.contacts.create({ fullName: `Only In CRM ${n}`, email: `only${n}@fabrikam.example`, ownerUserId: box.userId });
    const writes = writesFrom(box.address);
    await box.sync();
    expect(writes().filter((w) => w.method === 'POST')).toHaveLength(3);
    const names = mb.listContacts().map((x) => x.displayName);
    expect(names).toHaveLength(13);
    expect(new Set(names).size).toBe(13);
    expect(await linksOf(box)).toHaveLength(9);
    expect(mb.listContacts().filter((x) => x.jobTitle === 'From the CRM')).toHaveLength(6);
    const [{ n }] = await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM contacts WHERE owner_user_id = $1`, [box.userId]);
    expect(n).toBe(9);
    // Everything settled: the next cycle writes nothing.
    const after = writesFrom(box.address);
    await box.sync();
    expect(after()).toEqual([]);
  });
});
