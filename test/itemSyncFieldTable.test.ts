import { randomUUID } from 'node:crypto';
import { FieldDirectionService } from '../src/admin/fieldDirectionService';
import type { PgCrmRecords } from '../src/crm/crmRecords';
import { ITEM_FIELDS, type ItemEntity } from '../src/crm/itemFields';
import type { PgCrmItems } from '../src/crm/pgCrmItems';
import { GRAPH_CONTACT_FIELDS } from '../src/mail/graph/graphContactMapper';
import { GraphContactSource } from '../src/mail/graph/graphContactSource';
import { GRAPH_APPOINTMENT_FIELDS } from '../src/mail/graph/graphEventMapper';
import { GraphEventSource } from '../src/mail/graph/graphEventSource';
import { GRAPH_TASK_FIELDS } from '../src/mail/graph/graphTaskMapper';
import { GraphTaskSource } from '../src/mail/graph/graphTaskSource';
import { DIRECTIONS, effectiveDirections, flowsTo, type Direction, type DirectionEntity, type EffectiveDirection } from '../src/policy/fieldDirections';
import { normalize, type Values } from '../src/policy/itemMerge';
import type { PgItemSyncStore } from '../src/store/itemSyncStore';
import type { ItemSource } from '../src/sync/items/itemSource';
import { syncItems } from '../src/sync/items/itemSync';
import type { GraphFake } from './support/graphFake';
import { changeLogSettled, fakeSession, useItemEngineBed } from './support/graphItems';
import { exchangeMailbox } from './support/graphMailbox';
import type { TestBed } from './support/testBed';

// Round trips driven by the direction table itself (src/policy/fieldDirections.ts): for every field
// of every entity, a change on one side ends as its direction says on the other, with exactly one
// write there (the fake's request log, the CRM change log by origin) and nothing back. Settable
// fields go through every direction; fixed ones keep theirs. A field the table gains later is
// covered as soon as this file can make a value for it (it fails naming the field otherwise).
let accounts: string[];

let bed: TestBed, fake: GraphFake, crm: PgCrmItems, records: PgCrmRecords, store: PgItemSyncStore;
useItemEngineBed(async (opened) => {
  ({ bed, fake, crm, records, store } = opened);
  accounts = [];
  for (const name of ['Fabrikam', 'Contoso', 'Litware']) accounts.push((await records.accounts.create({ name })).id);
});

/** The CRM fields Graph carries, per entity: the others cannot reach Exchange. */
const CARRIED: Record<ItemEntity, ReadonlySet<string>> = {
  contact: new Set(GRAPH_CONTACT_FIELDS),
  appointment: new Set(GRAPH_APPOINTMENT_FIELDS),
  task: new Set(GRAPH_TASK_FIELDS),
};
const itemEntity = (entity: DirectionEntity): ItemEntity => (entity === 'recurringAppointment' ? 'appointment' : entity);

// Values ---------------------------------------------------------------------------------------

let serial = 0;
const dayMs = 86_400_000;
/** A future day at 09:00 UTC, inside the calendar window the event source reads. */
const futureDay = (days: number) => {
  const d = new Date(Date.now() + (3 + days) * dayMs);
  d.setUTCHours(9, 0, 0, 0);
  return d;
};
const WEEK_DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const;

/** Fields whose CRM fields must change together to make sense (times, series, people, links). */
const BUNDLES: Record<string, (n: number, current: Values) => Values> = {
  'appointment.time': (n) => {
    const start = futureDay(n % 300);
    return { startsAt: start.toISOString(), endsAt: new Date(start.getTime() + 3_600_000).toISOString(), timeZone: n % 2 ? 'Europe/Paris' : 'America/New_York', allDay: false };
  },
  'recurringAppointment.recurrence': (n) => {
    const start = futureDay(n % 300);
    return {
      startsAt: start.toISOString(),
      endsAt: new Date(start.getTime() + 1_800_000).toISOString(),
      timeZone: 'UTC',
      allDay: false,
      recurrence: {
        pattern: { type: 'weekly', interval: 1, daysOfWeek: [WEEK_DAYS[start.getUTCDay()]], firstDayOfWeek: 'monday' },
        // Graph's form: no recurrence time zone when it is the appointment's own.
        range: { type: 'numbered', startDate: start.toISOString().slice(0, 10), numberOfOccurrences: 3 + (n % 5) },
      },
    };
  },
  // The syncing user stays the organizer (the filters and the delete rules hang on it): its name changes.
  'appointment.organizer': (n) => ({ organizerName: `Organizer ${n}` }),
  'appointment.requiredAttendees': (n, current) => ({ attendees: [...attendeesOf(current, 'optional'), { role: 'required', address: `required${n}@fabrikam.example`, name: `Required ${n}` }] }),
  'appointment.optionalAttendees': (n, current) => ({ attendees: [...attendeesOf(current, 'required'), { role: 'optional', address: `optional${n}@fabrikam.example`, name: `Optional ${n}` }] }),
  'appointment.regarding': (n) => ({ regardingType: 'account', regardingId: accounts[n % accounts.length] }),
  'task.regarding': (n) => ({ regardingType: 'account', regardingId: accounts[n % accounts.length] }),
  'contact.fullName': (n) => ({ fullName: `First${n} Middle${n} Last${n}`, firstName: `First${n}`, middleName: `Middle${n}`, lastName: `Last${n}` }),
  // Completing a task makes To Do stamp its completion time (see the test of its own below): cancel instead.
  'task.status': (_n, current) => ({ status: current.status === 'canceled' ? 'open' : 'canceled' }),
  'contact.companyName': (n) => ({ companyName: `Company ${n}`, accountId: accounts[n % accounts.length] }),
};
for (const field of ['organizer', 'requiredAttendees', 'optionalAttendees', 'regarding']) BUNDLES[`recurringAppointment.${field}`] = BUNDLES[`appointment.${field}`];

function attendeesOf(current: Values, role: string) {
  return ((current.attendees as { role: string; address: string; name: string | null }[] | undefined) ?? [])
    .filter((a) => a.role === role)
    .map((a) => ({ role: a.role, address: a.address, name: a.name ?? undefined }));
}

/** A value of one CRM field unlike the current one, by the field's type. */
function valueOf(entity: ItemEntity, crmField: string, n: number, current: Values): unknown {
  const spec = ITEM_FIELDS[entity][crmField];
  if (!spec) throw new Error(`No value for ${entity}.${crmField}: add it to BUNDLES in this test`);
  switch (spec.type) {
    case 'text':
    case 'longText':
      return `${crmField} ${n}`;
    case 'email':
      return `${crmField.toLowerCase()}.${n}@fabrikam.example`;
    case 'date':
      return new Date(Date.UTC(1990, 0, 1) + n * dayMs).toISOString().slice(0, 10);
    case 'timestamp':
      return new Date(futureDay(n % 300).getTime() + 3_600_000).toISOString();
    case 'boolean':
      return current[crmField] !== true;
    case 'integer':
      return ((Number(current[crmField] ?? 0) + 10) % 100) + 1;
    case 'enum':
      return spec.values!.find((v) => v !== current[crmField] && (crmField !== 'regardingType' || v === 'account'));
    case 'uuid':
    case 'user':
      throw new Error(`No value for ${entity}.${crmField} (a reference): add it to BUNDLES in this test`);
  }
}

/** New values for every CRM field of a synced field, unlike the current ones. */
function change(f: EffectiveDirection, current: Values): Values {
  const n = ++serial;
  const bundle = BUNDLES[`${f.entity}.${f.field}`];
  if (bundle) return bundle(n, current);
  return Object.fromEntries(f.crmFields.map((c) => [c, valueOf(itemEntity(f.entity), c, n, current)]));
}

const carriedPart = (entity: ItemEntity, values: Values) => Object.fromEntries(Object.entries(values).filter(([k]) => CARRIED[entity].has(k)));
const norm = (values: Values) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, normalize(v, k)]));
const pick = (from: Values, like: Values) => norm(Object.fromEntries(Object.keys(like).map((k) => [k, from[k]])));

// Mailboxes ------------------------------------------------------------------------------------

interface Box {
  entity: ItemEntity;
  address: string;
  mailboxId: string;
  userId: string;
  /** What the engine syncs through, and the user's own hand in Outlook (the same Graph API). */
  source: ItemSource;
  outlook: ItemSource;
  container: string;
  sync(): Promise<void>;
  /** Graph writes and CRM writes by sync from now on. */
  mark(): Promise<() => Promise<{ graph: string[]; crm: string[] }>>;
}

let boxes = 0;
async function mailbox(entity: ItemEntity): Promise<Box> {
  const address = `fieldtable${++boxes}@contoso.example`;
  fake.addUser({ mail: address });
  const { mailboxId, userId } = await exchangeMailbox(bed, fake, address);
  const make = () =>
    entity === 'contact'
      ? new GraphContactSource(fakeSession(fake, address))
      : entity === 'appointment'
        ? new GraphEventSource(fakeSession(fake, address))
        : new GraphTaskSource(fakeSession(fake, address));
  const source = make();
  const outlook = make();
  const [container] = await source.containers();
  // Tasks of every status sync here: a status change is a field change, not a filter change.
  if (entity === 'task') {
    await bed.query(`UPDATE sync_filters SET rules = $2 WHERE user_id = $1 AND entity = 'task'`, [
      userId,
      JSON.stringify({ match: 'all', conditions: [{ field: 'ownerUserId', op: 'eq', value: { currentUser: true } }] }),
    ]);
  }
  const graphUser = fake.users.find((u) => u.mail === address)!.id;
  return {
    entity,
    address,
    mailboxId,
    userId,
    source,
    outlook,
    container,
    sync: async () => {
      await changeLogSettled(bed);
      await syncItems(mailboxId, [source], { crm, store });
    },
    mark: async () => {
      const start = fake.requestLog.length;
      const [{ p }] = await bed.query<{ p: string }>(`SELECT coalesce(max(position), 0)::text AS p FROM crm_change_log`);
      return async () => ({
        // A To Do task's CRM id is a linked resource: its writes are stamps, not field writes.
        graph: fake.requestLog
          .slice(start)
          .filter((e) => e.userId === graphUser && e.method !== 'GET')
          .map((e) => (e.url.includes('/linkedResources') ? `${e.method} stamp` : e.method)),
        crm: (await bed.query<{ operation: string }>(`SELECT operation FROM crm_change_log WHERE position > $1 AND origin = $2 ORDER BY position`, [p, `mailbox:${mailboxId}`])).map(
          (r) => r.operation,
        ),
      });
    },
  };
}

// The CRM side, whatever the entity.
async function crmCreate(box: Box, values: Values): Promise<string> {
  const input = { ...values, ownerUserId: box.userId } as never;
  if (box.entity === 'contact') return (await records.contacts.create(input)).id;
  if (box.entity === 'appointment') return (await crm.appointments.create(input)).id;
  return (await crm.tasks.create(input)).id;
}
async function crmUpdate(box: Box, id: string, values: Values): Promise<void> {
  if (box.entity === 'contact') await records.contacts.update(id, values as never);
  else if (box.entity === 'appointment') await crm.appointments.update(id, values as never);
  else await crm.tasks.update(id, values as never);
}
async function crmDelete(box: Box, id: string): Promise<void> {
  if (box.entity === 'contact') await records.contacts.delete(id);
  else if (box.entity === 'appointment') await crm.appointments.delete(id);
  else await crm.tasks.delete(id);
}
const crmRead = async (box: Box, id: string): Promise<Values | undefined> => (await crm.read(box.entity, [id]))[0] as Values | undefined;

async function remoteOf(box: Box, crmId: string): Promise<string> {
  const [link] = await bed.query<{ remote_id: string }>(`SELECT remote_id FROM item_links WHERE mailbox_id = $1 AND crm_record_id = $2`, [box.mailboxId, crmId]);
  expect({ crmId, linked: Boolean(link) }).toEqual({ crmId, linked: true });
  return link.remote_id;
}
const exchangeRead = async (box: Box, remoteId: string) => (await box.outlook.get(box.container, remoteId))?.fields;

/** The user edits the item in Outlook. */
async function exchangeUpdate(box: Box, remoteId: string, values: Values): Promise<void> {
  const item = await box.outlook.get(box.container, remoteId);
  await box.outlook.update(box.container, remoteId, item!.changeKey, values);
}

// Directions -----------------------------------------------------------------------------------

/** Every settable field of the entity to this direction, as an admin sets it; a fixed field refuses any other. */
async function setDirections(entity: DirectionEntity, direction: Direction | 'default'): Promise<void> {
  const service = new FieldDirectionService(bed.pool);
  for (const f of fieldsOf(entity)) {
    if (!f.fixed) await service.set({ entity, field: f.field, direction });
    else if (direction !== 'default' && direction !== f.default) await expect(service.set({ entity, field: f.field, direction })).rejects.toThrow(/is fixed at/);
  }
}
const fieldsOf = (entity: DirectionEntity, overrides: { entity: string; field: string; direction: string }[] = []) =>
  effectiveDirections(overrides).filter((d) => d.entity === entity);

/** A record with a value in every field the table names (what a direction round starts from). */
function initialValues(entity: DirectionEntity): Values {
  let values: Values = {};
  for (const f of fieldsOf(entity)) if (f.crmFields.length) values = { ...values, ...change(f, values) };
  if (entity === 'task') values.status = 'open';
  return values;
}

const ENTITIES: DirectionEntity[] = ['contact', 'appointment', 'recurringAppointment', 'task'];
const boxFor = new Map<DirectionEntity, Box>();
async function boxOf(entity: DirectionEntity): Promise<Box> {
  if (!boxFor.has(entity)) boxFor.set(entity, await mailbox(itemEntity(entity)));
  return boxFor.get(entity)!;
}

async function createInCrm(entity: DirectionEntity, box: Box): Promise<string> {
  const values = initialValues(entity);
  if (itemEntity(entity) === 'appointment') values.organizerAddress = box.address;
  return crmCreate(box, values);
}

/**
 * A CRM change of these fields, then sync: Exchange takes each field that flows to it (one write in
 * all), a field owned by Exchange is put back from Exchange in the CRM (one CRM write), others stay.
 */
async function crmSideChange(box: Box, entity: DirectionEntity, id: string, fields: EffectiveDirection[]): Promise<void> {
  const remoteId = await remoteOf(box, id);
  const before = (await exchangeRead(box, remoteId))!;
  const current = (await crmRead(box, id))!;
  let values: Values = {};
  for (const f of fields) values = { ...values, ...change(f, { ...current, ...values }) };
  await crmUpdate(box, id, values);
  const written = await box.mark();
  await box.sync();
  const after = (await exchangeRead(box, remoteId))!;
  const record = (await crmRead(box, id))!;
  let toExchange = 0;
  let toCrm = 0;
  for (const f of fields) {
    const mine = Object.fromEntries(f.crmFields.filter((c) => Object.hasOwn(values, c)).map((c) => [c, values[c]]));
    const carried = carriedPart(box.entity, mine);
    const what = `${entity}.${f.field} (${f.direction}) changed in the CRM`;
    if (Object.keys(carried).length === 0) {
      // Graph has no property for it: it stays in the CRM.
      expect({ what, crm: pick(record, mine) }).toEqual({ what, crm: norm(mine) });
    } else if (flowsTo(f.direction, 'exchange')) {
      toExchange = 1;
      expect({ what, exchange: pick(after, carried), crm: pick(record, mine) }).toEqual({ what, exchange: norm(carried), crm: norm(mine) });
    } else if (f.direction === 'exchange_to_crm') {
      toCrm = 1;
      expect({ what, exchange: pick(after, carried), crm: pick(record, carried) }).toEqual({ what, exchange: pick(before, carried), crm: pick(before, carried) });
    } else {
      expect({ what, exchange: pick(after, carried), crm: pick(record, mine) }).toEqual({ what, exchange: pick(before, carried), crm: norm(mine) });
    }
  }
  const fieldNames = fields.map((f) => `${entity}.${f.field} (${f.direction})`).join(', ');
  expect({ fieldNames, ...(await written()) }).toEqual({ fieldNames, graph: toExchange ? ['PATCH'] : [], crm: toCrm ? ['update'] : [] });
  await settled(box, fieldNames);
}

/**
 * The same fields changed in Outlook, then sync: the CRM takes each field that flows to it (one CRM
 * write in all), a field owned by the CRM is put back from the CRM in Exchange (one write), others stay.
 */
async function exchangeSideChange(box: Box, entity: DirectionEntity, id: string, fields: EffectiveDirection[]): Promise<void> {
  const remoteId = await remoteOf(box, id);
  const current = (await exchangeRead(box, remoteId))!;
  const crmBefore = (await crmRead(box, id))!;
  let values: Values = {};
  for (const f of fields) values = { ...values, ...carriedPart(box.entity, change(f, { ...current, ...values })) };
  if (Object.keys(values).length === 0) return;
  await exchangeUpdate(box, remoteId, values);
  const written = await box.mark();
  await box.sync();
  const after = (await exchangeRead(box, remoteId))!;
  const record = (await crmRead(box, id))!;
  let toExchange = 0;
  let toCrm = 0;
  for (const f of fields) {
    const mine = Object.fromEntries(f.crmFields.filter((c) => Object.hasOwn(values, c)).map((c) => [c, values[c]]));
    if (Object.keys(mine).length === 0) continue;
    const what = `${entity}.${f.field} (${f.direction}) changed in Exchange`;
    if (flowsTo(f.direction, 'crm')) {
      toCrm = 1;
      expect({ what, exchange: pick(after, mine), crm: pick(record, mine) }).toEqual({ what, exchange: norm(mine), crm: norm(mine) });
    } else if (f.direction === 'crm_to_exchange') {
      toExchange = 1;
      expect({ what, exchange: pick(after, mine), crm: pick(record, mine) }).toEqual({ what, exchange: pick(crmBefore, mine), crm: pick(crmBefore, mine) });
    } else {
      expect({ what, exchange: pick(after, mine), crm: pick(record, mine) }).toEqual({ what, exchange: norm(mine), crm: pick(crmBefore, mine) });
    }
  }
  const fieldNames = fields.map((f) => `${entity}.${f.field} (${f.direction})`).join(', ');
  expect({ fieldNames, ...(await written()) }).toEqual({ fieldNames, graph: toExchange ? ['PATCH'] : [], crm: toCrm ? ['update'] : [] });
  await settled(box, fieldNames);
}

/** Nothing left to write either way: no echo. */
async function settled(box: Box, fieldNames: string): Promise<void> {
  const written = await box.mark();
  await box.sync();
  expect({ fieldNames, settled: await written() }).toEqual({ fieldNames, settled: { graph: [], crm: [] } });
}

// Tests ----------------------------------------------------------------------------------------

describe.each(ENTITIES)('%s, field by field as the direction table says', (entity) => {
  it('with the directions as shipped: created in the CRM, each field changed on each side, one write each', async () => {
    const box = await boxOf(entity);
    await setDirections(entity, 'default');
    const fields = fieldsOf(entity);
    const id = await createInCrm(entity, box);
    const created = await box.mark();
    await box.sync();
    expect((await created()).graph).toEqual(['POST']);
    const remoteId = await remoteOf(box, id);
    const record = (await crmRead(box, id))!;
    const remote = (await exchangeRead(box, remoteId))!;
    for (const f of fields) {
      const carried = f.crmFields.filter((c) => CARRIED[box.entity].has(c));
      if (!flowsTo(f.direction, 'exchange') || carried.length === 0) continue;
      const part = Object.fromEntries(carried.map((c) => [c, record[c]]));
      expect({ field: f.field, exchange: pick(remote, part) }).toEqual({ field: f.field, exchange: norm(part) });
    }
    // Exchange may name the organizer itself once (its display name): settle before counting.
    await box.sync();
    await settled(box, 'created');
    // Each field on its own: the fields a table gains are covered here by the same loop.
    for (const f of fields) {
      if (f.crmFields.length === 0) {
        expect({ field: f.field, direction: f.direction }).toEqual({ field: f.field, direction: 'none' });
        continue;
      }
      await crmSideChange(box, entity, id, [f]);
      await exchangeSideChange(box, entity, id, [f]);
    }
  });

  it.each(DIRECTIONS.filter((d) => d !== 'two_way'))('with every settable field set to %s: created on either side, changed on each side', async (direction) => {
    const box = await boxOf(entity);
    await setDirections(entity, direction);
    try {
      const fields = fieldsOf(entity, fieldsOf(entity).filter((f) => !f.fixed).map((f) => ({ entity, field: f.field, direction })));
      const settable = fields.filter((f) => !f.fixed);
      expect(settable.length).toBeGreaterThan(0);
      expect(settable.every((f) => f.direction === direction)).toBe(true);

      // Created in the CRM: Exchange gets the fields that flow to it.
      const id = await createInCrm(entity, box);
      await box.sync();
      const remoteId = await remoteOf(box, id);
      const record = (await crmRead(box, id))!;
      const remote = (await exchangeRead(box, remoteId))!;
      for (const f of settable) {
        const part = carriedPart(box.entity, Object.fromEntries(f.crmFields.map((c) => [c, record[c]])));
        if (Object.keys(part).length === 0) continue;
        if (flowsTo(direction, 'exchange')) expect({ field: f.field, exchange: pick(remote, part) }).toEqual({ field: f.field, exchange: norm(part) });
        else expect({ field: f.field, exchange: pick(remote, part) }).not.toEqual({ field: f.field, exchange: norm(part) });
      }
      await box.sync();
      await settled(box, `created with ${direction}`);

      // All settable fields at once: one change, one write.
      await crmSideChange(box, entity, id, settable);
      await exchangeSideChange(box, entity, id, settable);
    } finally {
      await setDirections(entity, 'default');
    }
  });
});

describe('created in Exchange', () => {
  it.each(['contact', 'task', 'appointment'] as const)('a tracked %s enters the CRM with the fields that flow to it', async (entity) => {
    const box = await boxOf(entity);
    for (const direction of ['two_way', 'crm_to_exchange', 'exchange_to_crm', 'none'] as const) {
      await setDirections(entity, direction === 'two_way' ? 'default' : direction);
      try {
        const fields = fieldsOf(entity, direction === 'two_way' ? [] : fieldsOf(entity).filter((f) => !f.fixed).map((f) => ({ entity, field: f.field, direction })));
        const values = carriedPart(box.entity, initialValues(entity));
        if (entity === 'appointment') values.organizerAddress = box.address;
        // Made by hand in Outlook: no CRM id, the tracking category.
        const made = await box.outlook.create(box.container, values, randomUUID());
        await box.outlook.stamp(box.container, made.remoteId, made.changeKey, null);
        const mb = fake.mailbox(box.address);
        if (entity === 'contact') mb.updateContact(made.remoteId, { categories: ['Tracked to CRM'] });
        else if (entity === 'appointment') mb.updateEvent(made.remoteId, { categories: ['Tracked to CRM'] });
        else mb.updateTask(made.remoteId, { categories: ['Tracked to CRM'] });
        const written = await box.mark();
        await box.sync();
        expect((await written()).crm).toEqual(['insert']);
        const [link] = await bed.query<{ crm_record_id: string }>(`SELECT crm_record_id FROM item_links WHERE mailbox_id = $1 AND remote_id = $2`, [box.mailboxId, made.remoteId]);
        const record = (await crmRead(box, link.crm_record_id))!;
        for (const f of fields) {
          const part = Object.fromEntries(f.crmFields.filter((c) => Object.hasOwn(values, c)).map((c) => [c, values[c]]));
          if (Object.keys(part).length === 0) continue;
          const what = `${entity}.${f.field} (${f.direction})`;
          if (flowsTo(f.direction, 'crm')) expect({ what, crm: pick(record, part) }).toEqual({ what, crm: norm(part) });
          else expect({ what, crm: pick(record, part) }).not.toEqual({ what, crm: norm(part) });
        }
        // The stamp comes back in the next delta: merged, nothing to write.
        await settled(box, `${entity} tracked with ${direction}`);
      } finally {
        await setDirections(entity, 'default');
      }
    }
  });
});

describe('deleted on either side', () => {
  const RULES = ['itemsDeleteContactFromCrm', 'itemsDeleteContactFromExchange', 'itemsDeleteAppointmentFromCrm', 'itemsDeleteAppointmentFromExchange', 'itemsDeleteTaskFromCrm', 'itemsDeleteTaskFromExchange'] as const;

  /** Two linked records; one deleted in the CRM, the other in Exchange; what remains of each on the other side. */
  async function deleteBoth(entity: ItemEntity) {
    const box = await boxOf(entity);
    const first = await createInCrm(entity, box);
    const second = await createInCrm(entity, box);
    await box.sync();
    const firstRemote = await remoteOf(box, first);
    const secondRemote = await remoteOf(box, second);
    await box.sync();

    await crmDelete(box, first);
    let written = await box.mark();
    await box.sync();
    const afterCrmDelete = await written();
    const exchangeCopy = (await exchangeRead(box, firstRemote)) !== undefined;

    if (entity === 'contact') fake.mailbox(box.address).deleteContact(secondRemote);
    else if (entity === 'appointment') fake.mailbox(box.address).deleteEvent(secondRemote);
    else fake.mailbox(box.address).deleteTask(secondRemote);
    written = await box.mark();
    await box.sync();
    const afterExchangeDelete = await written();
    const crmRecord = (await crmRead(box, second)) !== undefined;
    const links = async (id: string) => (await bed.query<{ link_state: string }>(`SELECT link_state FROM item_links WHERE mailbox_id = $1 AND crm_record_id = $2`, [box.mailboxId, id])).map((l) => l.link_state);
    // A kept record stays out of Exchange: the user's delete holds.
    await settled(box, `${entity} deletes`);
    return {
      crmDeleted: { exchangeCopy, graph: afterCrmDelete.graph.filter((m) => m === 'DELETE'), link: await links(first) },
      exchangeDeleted: { crmRecord, crm: afterExchangeDelete.crm, graph: afterExchangeDelete.graph, link: await links(second) },
    };
  }

  it("follows Dynamics' rules by default: the owner keeps a CRM-deleted contact; tasks and the user's future appointments go both ways", async () => {
    const exchangeCopyKept = { exchangeCopy: true, graph: [], link: [] };
    const exchangeCopyDeleted = { exchangeCopy: false, graph: ['DELETE'], link: [] };
    const crmRecordDeleted = { crmRecord: false, crm: ['delete'], graph: [], link: [] };
    expect(await deleteBoth('contact')).toEqual({ crmDeleted: exchangeCopyKept, exchangeDeleted: crmRecordDeleted });
    expect(await deleteBoth('task')).toEqual({ crmDeleted: exchangeCopyDeleted, exchangeDeleted: crmRecordDeleted });
    expect(await deleteBoth('appointment')).toEqual({ crmDeleted: exchangeCopyDeleted, exchangeDeleted: crmRecordDeleted });
  });

  it('keeps a past appointment deleted in Exchange in the CRM, and does not put it back in the calendar', async () => {
    const box = await boxOf('appointment');
    const start = new Date(Date.now() - 2 * dayMs);
    const id = await crmCreate(box, { subject: 'Last week', startsAt: start.toISOString(), endsAt: new Date(start.getTime() + 3_600_000).toISOString(), organizerAddress: box.address });
    await box.sync();
    const remoteId = await remoteOf(box, id);
    await box.sync();
    fake.mailbox(box.address).deleteEvent(remoteId);
    const written = await box.mark();
    await box.sync();
    await box.sync();
    expect(await written()).toEqual({ graph: [], crm: [] });
    expect(await crmRead(box, id)).toEqual(expect.objectContaining({ subject: 'Last week' }));
    expect(fake.mailbox(box.address).listEvents().filter((e) => e.subject === 'Last week')).toEqual([]);
  });

  it("follows the organisation's delete settings: each rule turns its outcome around", async () => {
    await bed.admin.updateOrganizationSettings({
      itemsDeleteContactFromCrm: 'delete',
      itemsDeleteContactFromExchange: 'unlink',
      itemsDeleteAppointmentFromCrm: 'unlink',
      itemsDeleteAppointmentFromExchange: 'unlink',
      itemsDeleteTaskFromCrm: 'unlink',
      itemsDeleteTaskFromExchange: 'unlink',
    });
    try {
      const exchangeCopyKept = { exchangeCopy: true, graph: [], link: [] };
      const exchangeCopyDeleted = { exchangeCopy: false, graph: ['DELETE'], link: [] };
      // The record stays; its link rests, so the filters do not make the item again.
      const crmRecordKept = { crmRecord: true, crm: [], graph: [], link: ['untracked'] };
      expect(await deleteBoth('contact')).toEqual({ crmDeleted: exchangeCopyDeleted, exchangeDeleted: crmRecordKept });
      expect(await deleteBoth('task')).toEqual({ crmDeleted: exchangeCopyKept, exchangeDeleted: crmRecordKept });
      expect(await deleteBoth('appointment')).toEqual({ crmDeleted: exchangeCopyKept, exchangeDeleted: crmRecordKept });
    } finally {
      await bed.admin.updateOrganizationSettings(Object.fromEntries(RULES.map((r) => [r, 'dynamics'])));
    }
  });
});

describe('a task completed in the CRM', () => {
  it('is completed in To Do, which stamps its completion time: the CRM takes that once, then both settle', async () => {
    const box = await boxOf('task');
    const id = await crmCreate(box, { subject: 'Finish me', status: 'open' });
    await box.sync();
    await crmUpdate(box, id, { status: 'completed' });
    let written = await box.mark();
    await box.sync();
    expect(await written()).toEqual({ graph: ['PATCH'], crm: [] });
    const remote = (await exchangeRead(box, await remoteOf(box, id)))!;
    expect(remote).toEqual(expect.objectContaining({ status: 'completed', completedAt: expect.any(String) }));
    written = await box.mark();
    await box.sync();
    expect(await written()).toEqual({ graph: [], crm: ['update'] });
    expect(normalize((await crmRead(box, id))!.completedAt)).toBe(normalize(remote.completedAt));
    await settled(box, 'a completed task');
  });
});
