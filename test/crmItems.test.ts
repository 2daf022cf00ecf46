import type { FastifyInstance, InjectOptions } from 'fastify';
import { ApiTokens } from '../src/admin/apiTokens';
import { createItemServices, type ItemServices } from '../src/admin/itemServices';
import { buildApiServer } from '../src/api/server';
import { PgCrmRecords } from '../src/crm/crmRecords';
import { createLogger } from '../src/logger';
import { ItemChangeListener } from '../src/worker/itemChangeListener';
import { eventually, TestBed } from './support/testBed';

// The CRM side of the two-way item sync, against real PostgreSQL: the change log and its origin,
// NOTIFY reaching the listener, sync filters (defaults, union, preview, who may edit them), field
// directions, and the appointment and task records through the API.

let bed: TestBed;
let app: FastifyInstance;
let tokens: ApiTokens;
let adminToken: string;
let items: ItemServices;
let profileId: string;

beforeAll(async () => {
  bed = await TestBed.create();
  tokens = new ApiTokens(bed.pool);
  items = createItemServices(bed.pool);
  app = await buildApiServer({ service: bed.admin, tokens, crm: new PgCrmRecords(bed.pool), items });
  await app.ready();
  adminToken = (await tokens.create({ role: 'admin' })).token;
  [{ id: profileId }] = await bed.query<{ id: string }>(`INSERT INTO email_server_profiles (name, server_type) VALUES ('Items', 'imap') RETURNING id`);
});

afterAll(async () => {
  await app?.close();
  await bed?.close();
});

async function call(opts: InjectOptions & { token?: string }) {
  const { token, ...rest } = opts;
  return app.inject({ ...rest, headers: { authorization: `Bearer ${token ?? adminToken}` } });
}

async function api<T = any>(opts: InjectOptions & { token?: string }, status = 200): Promise<T> {
  const res = await call(opts);
  if (res.statusCode !== status) throw new Error(`${opts.method} ${opts.url}: expected ${status}, got ${res.statusCode}: ${res.body}`);
  return (res.body ? res.json() : undefined) as T;
}

let users = 0;
async function newUser(name: string): Promise<{ id: string; email: string }> {
  const email = `${name.toLowerCase()}${++users}@items.test`;
  return api({ method: 'POST', url: '/users', payload: { fullName: name, email } }, 201);
}

async function mailboxOf(user: { id: string; email: string }): Promise<string> {
  const [row] = await bed.query<{ id: string }>(`INSERT INTO mailboxes (email_address, profile_id, owner_user_id) VALUES ($1, $2, $3) RETURNING id`, [
    user.email,
    profileId,
    user.id,
  ]);
  return row.id;
}

const logOf = (recordId: string) =>
  bed.query(
    `SELECT operation, changed_columns, owner_before, owner_after, user_ids::text[] AS user_ids, origin FROM crm_change_log WHERE record_id = $1 ORDER BY position`,
    [recordId],
  );

describe('change log', () => {
  it('records each insert, update and delete with the columns changed, the owners and the origin crm', async () => {
    const ann = await newUser('Ann');
    const contact = await api({ method: 'POST', url: '/contacts', payload: { fullName: 'Carol Contact', email: 'carol@customer.test', ownerUserId: ann.id, jobTitle: 'Buyer' } }, 201);
    expect(contact).toMatchObject({ fullName: 'Carol Contact', jobTitle: 'Buyer', ownerUserId: ann.id, state: 'active', mobilePhone: null, modifiedAt: expect.any(String) });
    await api({ method: 'PATCH', url: `/contacts/${contact.id}`, payload: { jobTitle: 'Head buyer', mobilePhone: '+33 6 12 34 56 78', birthday: '1980-05-04' } });
    // A patch that changes nothing is no change.
    await api({ method: 'PATCH', url: `/contacts/${contact.id}`, payload: { jobTitle: 'Head buyer' } });
    expect(await api({ method: 'GET', url: `/contacts/${contact.id}` })).toMatchObject({ birthday: '1980-05-04', mobilePhone: '+33 6 12 34 56 78' });
    await api({ method: 'DELETE', url: `/contacts/${contact.id}` }, 204);

    expect(await logOf(contact.id)).toEqual([
      { operation: 'insert', changed_columns: ['email', 'full_name', 'job_title', 'owner_user_id', 'state'], owner_before: null, owner_after: ann.id, user_ids: [ann.id], origin: 'crm' },
      { operation: 'update', changed_columns: ['birthday', 'job_title', 'mobile_phone'], owner_before: ann.id, owner_after: ann.id, user_ids: [ann.id], origin: 'crm' },
      { operation: 'delete', changed_columns: [], owner_before: ann.id, owner_after: null, user_ids: [ann.id], origin: 'crm' },
    ]);
  });

  it("marks sync's own writes with their origin; their reader skips them and still moves past them; a failed write leaves nothing", async () => {
    const ann = await newUser('Ann');
    const start = await items.records.currentCursor();
    const { records } = await items.records.apply('mailbox:m-1', [{ entity: 'task', operation: 'create', values: { subject: 'From Exchange', ownerUserId: ann.id } }]);
    const task = records[0]!;
    expect(task).toMatchObject({ entity: 'task', subject: 'From Exchange', status: 'open', ownerUserId: ann.id });
    await api({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { percentComplete: 50 } });
    expect((await logOf(task.id)).map((r) => [r.operation, r.origin])).toEqual([
      ['insert', 'mailbox:m-1'],
      ['update', 'crm'],
    ]);

    const mine = (changes: { recordId: string }[]) => changes.filter((c) => c.recordId === task.id);
    const all = await eventually('both changes readable', async () => {
      const page = await items.records.changesSince(start);
      return mine(page.changes).length === 2 && page;
    });
    expect(mine(all.changes).map((c) => ({ operation: (c as any).operation, origin: (c as any).origin, fields: (c as any).changedFields }))).toEqual([
      { operation: 'insert', origin: 'mailbox:m-1', fields: ['ownerUserId', 'percentComplete', 'priority', 'state', 'status', 'subject'] },
      { operation: 'update', origin: 'crm', fields: ['percentComplete'] },
    ]);
    const skipping = await items.records.changesSince(start, { skipOrigin: 'mailbox:m-1' });
    expect(mine(skipping.changes).map((c) => (c as any).operation)).toEqual(['update']);
    expect(skipping.cursor).toBe(all.cursor);
    // Read again from its cursor: nothing new.
    expect(mine((await items.records.changesSince(all.cursor)).changes)).toEqual([]);

    // The caller's own write in the same transaction fails: the record and its change go with it.
    await expect(
      items.records.apply('mailbox:m-1', [{ entity: 'task', operation: 'create', values: { subject: 'Rolled back' } }], async (db) => {
        await db.query(`SELECT 1/0`);
      }),
    ).rejects.toThrow(/division by zero/);
    expect(await bed.query(`SELECT id FROM crm_tasks WHERE subject = 'Rolled back'`)).toEqual([]);
    expect(await bed.query(`SELECT position FROM crm_change_log WHERE changed_at > now() - interval '1 minute' AND origin = 'mailbox:m-1' AND entity = 'task' AND record_id <> $1`, [task.id])).toEqual([]);
    await expect(items.records.apply('crm', [])).rejects.toThrow(/not "crm"/);
  });

  it('never lets its reader pass a change whose transaction is still open, though it took an earlier position', async () => {
    const start = await items.records.currentCursor();
    const slow = await bed.pool.connect();
    try {
      await slow.query('BEGIN');
      const { rows } = await slow.query(`INSERT INTO crm_tasks (subject) VALUES ('slow') RETURNING id`);
      const quick = await api({ method: 'POST', url: '/tasks', payload: { subject: 'quick' } }, 201);
      const ours = (changes: { recordId: string }[]) => changes.filter((c) => c.recordId === rows[0].id || c.recordId === quick.id).map((c) => c.recordId);
      const meanwhile = await items.records.changesSince(start);
      expect(ours(meanwhile.changes)).toEqual([]);
      await slow.query('COMMIT');
      const after = await eventually('both changes readable', async () => {
        const page = await items.records.changesSince(meanwhile.cursor);
        return ours(page.changes).length === 2 && page;
      });
      expect(ours(after.changes)).toEqual([rows[0].id, quick.id]);
    } finally {
      await slow.query('ROLLBACK').catch(() => undefined);
      slow.release();
    }
  });

  it('shows a reassignment with the old and the new owner', async () => {
    const [ann, bob] = [await newUser('Ann'), await newUser('Bob')];
    const contact = await api({ method: 'POST', url: '/contacts', payload: { fullName: 'Moved', ownerUserId: ann.id } }, 201);
    await api({ method: 'PATCH', url: `/contacts/${contact.id}`, payload: { ownerUserId: bob.id } });
    const [, reassigned] = await logOf(contact.id);
    expect(reassigned).toMatchObject({ operation: 'update', changed_columns: ['owner_user_id'], owner_before: ann.id, owner_after: bob.id });
    expect([...reassigned.user_ids as string[]].sort()).toEqual([ann.id, bob.id].sort());
  });

  it("folds an appointment's attendees into its change, naming attendees who are users, and those who left", async () => {
    const [ann, bob] = [await newUser('Ann'), await newUser('Bob')];
    const carol = await api({ method: 'POST', url: '/contacts', payload: { fullName: 'Carol', email: 'carol.attendee@customer.test' } }, 201);
    const meeting = await api(
      {
        method: 'POST',
        url: '/appointments',
        payload: {
          subject: 'Kick-off',
          startsAt: '2026-12-07T09:00:00+01:00',
          endsAt: '2026-12-07T10:00:00+01:00',
          timeZone: 'Europe/Paris',
          organizerAddress: ann.email.toUpperCase(),
          attendees: [{ address: bob.email }, { address: 'Carol.Attendee@customer.test', role: 'optional', name: 'Carol' }, { address: 'stranger@else.test' }],
        },
      },
      201,
    );
    expect(meeting).toMatchObject({
      startsAt: '2026-12-07T08:00:00.000Z',
      organizer: { type: 'user', id: ann.id },
      attendees: [
        { role: 'required', address: bob.email, name: null, record: { type: 'user', id: bob.id } },
        { role: 'optional', address: 'Carol.Attendee@customer.test', name: 'Carol', record: { type: 'contact', id: carol.id } },
        { role: 'required', address: 'stranger@else.test', name: null, record: null },
      ],
    });
    const [created] = await logOf(meeting.id);
    expect(created).toMatchObject({ operation: 'insert', changed_columns: expect.arrayContaining(['subject', 'organizer_id', 'attendees']) });
    expect([...created.user_ids as string[]].sort()).toEqual([ann.id, bob.id].sort());

    await api({ method: 'PATCH', url: `/appointments/${meeting.id}`, payload: { attendees: [{ address: 'stranger@else.test' }], location: 'Room 1' } });
    const log = await logOf(meeting.id);
    expect(log).toHaveLength(2);
    expect(log[1]).toMatchObject({ operation: 'update', changed_columns: ['location', 'attendees'] });
    expect([...log[1].user_ids as string[]].sort()).toEqual([ann.id, bob.id].sort());

    // Attendees changed alone are a change of the appointment too.
    await bed.query(`DELETE FROM appointment_attendees WHERE appointment_id = $1`, [meeting.id]);
    expect((await logOf(meeting.id))[2]).toMatchObject({ operation: 'update', changed_columns: ['attendees'], origin: 'crm' });
  });

  it('unlinks a deleted contact from the appointments and tasks that named it, logging those changes', async () => {
    const contact = await api({ method: 'POST', url: '/contacts', payload: { fullName: 'Gone Soon', email: 'gone@customer.test' } }, 201);
    const meeting = await api(
      { method: 'POST', url: '/appointments', payload: { startsAt: '2026-12-07T09:00:00Z', endsAt: '2026-12-07T10:00:00Z', attendees: [{ address: 'gone@customer.test' }], regardingType: 'contact', regardingId: contact.id } },
      201,
    );
    const task = await api({ method: 'POST', url: '/tasks', payload: { subject: 'About it', regardingType: 'contact', regardingId: contact.id } }, 201);
    await api({ method: 'DELETE', url: `/contacts/${contact.id}` }, 204);
    expect(await api({ method: 'GET', url: `/appointments/${meeting.id}` })).toMatchObject({
      regardingType: null,
      regardingId: null,
      attendees: [{ address: 'gone@customer.test', record: null }],
    });
    expect(await api({ method: 'GET', url: `/tasks/${task.id}` })).toMatchObject({ regardingType: null, regardingId: null });
    expect((await logOf(meeting.id)).map((r) => r.changed_columns)).toEqual([expect.arrayContaining(['regarding_id', 'attendees']), ['attendees'], ['regarding_id', 'regarding_type']]);
    expect((await logOf(task.id)).map((r) => r.changed_columns)).toEqual([expect.any(Array), ['regarding_id', 'regarding_type']]);
  });

  it('wakes the mailboxes a change concerns within seconds: old and new owner, organizer and attendees with mailboxes', async () => {
    const [ann, bob, cid] = [await newUser('Ann'), await newUser('Bob'), await newUser('Cid')];
    const [annMailbox, bobMailbox, cidMailbox] = [await mailboxOf(ann), await mailboxOf(bob), await mailboxOf(cid)];
    const woken: string[][] = [];
    const listener = new ItemChangeListener(bed.env.DATABASE_URL, bed.pool, async (ids) => void woken.push(ids), createLogger('warn'));
    await listener.start();
    try {
      const contact = await api({ method: 'POST', url: '/contacts', payload: { fullName: 'Reassigned', ownerUserId: ann.id } }, 201);
      await eventually('the owner woken', async () => woken.some((ids) => ids.includes(annMailbox)), 10_000);
      woken.length = 0;
      await api({ method: 'PATCH', url: `/contacts/${contact.id}`, payload: { ownerUserId: bob.id } });
      const both = await eventually('old and new owner woken', async () => woken.find((ids) => ids.includes(bobMailbox)), 10_000);
      expect(both).toEqual([annMailbox, bobMailbox].sort());

      woken.length = 0;
      await items.records.apply('mailbox:' + annMailbox, [
        {
          entity: 'appointment',
          operation: 'create',
          values: { subject: 'Sync wrote it', startsAt: '2026-12-08T09:00:00Z', endsAt: '2026-12-08T09:30:00Z', organizerAddress: ann.email, attendees: [{ address: cid.email }] },
        },
      ]);
      const party = await eventually('organizer and attendee woken', async () => woken.find((ids) => ids.includes(cidMailbox)), 10_000);
      expect(party).toEqual([annMailbox, cidMailbox].sort());
    } finally {
      await listener.stop();
    }
  });

  it('wakes for a change held back by an older open transaction as soon as that transaction ends, not before', async () => {
    const ann = await newUser('Ann');
    const annMailbox = await mailboxOf(ann);
    const woken: string[][] = [];
    const listener = new ItemChangeListener(bed.env.DATABASE_URL, bed.pool, async (ids) => void woken.push(ids), createLogger('warn'));
    await listener.start();
    // An unrelated writer that began first: sync cannot read past it until it ends.
    const older = await bed.pool.connect();
    try {
      await older.query('BEGIN');
      await older.query('SELECT pg_current_xact_id()');
      const cursor = await items.records.currentCursor();
      await api({ method: 'POST', url: '/contacts', payload: { fullName: 'Held back', ownerUserId: ann.id } }, 201);
      await new Promise((r) => setTimeout(r, 1500));
      expect((await items.records.changesSince(cursor)).changes).toEqual([]);
      expect(woken.flat()).not.toContain(annMailbox);
      await older.query('COMMIT');
      await eventually('the owner woken once the change is readable', async () => woken.some((ids) => ids.includes(annMailbox)), 10_000);
      expect((await items.records.changesSince(cursor)).changes.map((c) => c.entity)).toEqual(['contact']);
    } finally {
      await older.query('ROLLBACK').catch(() => undefined);
      older.release();
      await listener.stop();
    }
  });
});

describe('sync filters', () => {
  const appointment = (subject: string, extra: Record<string, unknown>) =>
    api({ method: 'POST', url: '/appointments', payload: { subject, startsAt: '2026-12-09T09:00:00Z', endsAt: '2026-12-09T10:00:00Z', ...extra } }, 201);

  it("gives every user Dynamics' defaults: my active contacts, appointments I organise or attend, my open tasks; several filters are a union, none is nothing", async () => {
    const [dave, erin] = [await newUser('Dave'), await newUser('Erin')];
    const defaults = await api<any[]>({ method: 'GET', url: `/sync-filters?userId=${dave.id}` });
    expect(defaults.map((f) => [f.entity, f.name, f.enabled, f.isDefault])).toEqual([
      ['appointment', 'Appointments I organise or attend', true, true],
      ['contact', 'My active contacts', true, true],
      ['task', 'My open tasks', true, true],
    ]);

    const active = await api({ method: 'POST', url: '/contacts', payload: { fullName: 'Active', ownerUserId: dave.id } }, 201);
    await api({ method: 'POST', url: '/contacts', payload: { fullName: 'Inactive', ownerUserId: dave.id, state: 'inactive' } }, 201);
    const vip = await api({ method: 'POST', url: '/contacts', payload: { fullName: 'Erin VIP', ownerUserId: erin.id, jobTitle: 'VIP' } }, 201);
    const open = await api({ method: 'POST', url: '/tasks', payload: { subject: 'Open', ownerUserId: dave.id } }, 201);
    await api({ method: 'POST', url: '/tasks', payload: { subject: 'Done', ownerUserId: dave.id, status: 'completed' } }, 201);
    const organised = await appointment('Organised', { organizerAddress: dave.email });
    const attended = await appointment('Attended', { organizerAddress: erin.email, attendees: [{ address: dave.email, role: 'optional' }] });
    // Owning an appointment is not enough (Dynamics: the user must take part).
    await appointment('Owned only', { ownerUserId: dave.id, organizerAddress: erin.email });

    expect(await items.records.matchingIds(dave.id, 'contact')).toEqual([active.id]);
    expect(await items.records.matchingIds(dave.id, 'task')).toEqual([open.id]);
    expect((await items.records.matchingIds(dave.id, 'appointment')).sort()).toEqual([organised.id, attended.id].sort());
    expect(await items.records.matchingIds(dave.id, 'appointment', [attended.id])).toEqual([attended.id]);

    const contactDefault = defaults.find((f) => f.entity === 'contact');
    await api({ method: 'PATCH', url: `/sync-filters/${contactDefault.id}`, payload: { enabled: false } });
    expect(await items.records.matchingIds(dave.id, 'contact')).toEqual([]);

    await api(
      { method: 'POST', url: '/sync-filters', payload: { userId: dave.id, entity: 'contact', name: 'VIPs', rules: { match: 'all', conditions: [{ field: 'jobTitle', op: 'eq', value: 'VIP' }] } } },
      201,
    );
    expect(await items.records.matchingIds(dave.id, 'contact')).toEqual([vip.id]);
    await api({ method: 'PATCH', url: `/sync-filters/${contactDefault.id}`, payload: { enabled: true } });
    expect((await items.records.matchingIds(dave.id, 'contact')).sort()).toEqual([active.id, vip.id].sort());
  });

  it('previews what a saved filter and unsaved rules match, with a count; bad rules are a 400 naming the problem', async () => {
    const fay = await newUser('Fay');
    for (const name of ['Pat One', 'Pat Two', 'Other']) {
      await api({ method: 'POST', url: '/contacts', payload: { fullName: name, ownerUserId: fay.id, department: name.startsWith('Pat') ? 'Sales' : 'Support' } }, 201);
    }
    const rules = { match: 'all', conditions: [{ field: 'ownerUserId', op: 'eq', value: { currentUser: true } }, { field: 'department', op: 'in', value: ['Sales'] }] };
    const unsaved = await api({ method: 'POST', url: '/sync-filters/preview', payload: { userId: fay.id, entity: 'contact', rules, limit: 1 } });
    expect(unsaved).toEqual({ count: 2, records: [{ id: expect.any(String), label: expect.stringMatching(/^Pat /), detail: null }] });

    const saved = await api({ method: 'POST', url: '/sync-filters', payload: { userId: fay.id, entity: 'contact', name: 'Sales', enabled: false, rules } }, 201);
    expect(await api({ method: 'GET', url: `/sync-filters/${saved.id}/preview` })).toMatchObject({ count: 2, records: [expect.anything(), expect.anything()] });

    // A hostile value is only a value: it matches nothing, and the table is still there.
    const hostile = { match: 'all', conditions: [{ field: 'department', op: 'eq', value: "Sales'; DROP TABLE contacts; --" }] };
    expect(await api({ method: 'POST', url: '/sync-filters/preview', payload: { userId: fay.id, entity: 'contact', rules: hostile } })).toEqual({ count: 0, records: [] });
    expect((await bed.query(`SELECT count(*)::int AS n FROM contacts WHERE owner_user_id = $1`, [fay.id]))[0].n).toBe(3);

    const bad = async (payload: object, message: RegExp, url = '/sync-filters') => {
      const res = await call({ method: 'POST', url, payload });
      expect({ status: res.statusCode, message: res.json().message }).toEqual({ status: 400, message: expect.stringMatching(message) });
    };
    await bad({ userId: fay.id, entity: 'contact', name: 'x', rules: { match: 'all', conditions: [{ field: 'shoeSize', op: 'eq', value: 42 }] } }, /conditions\.0\.field: unknown field "shoeSize" for contact; filterable fields: fullName/);
    await bad({ userId: fay.id, entity: 'task', name: 'x', rules: { match: 'all', conditions: [{ field: 'percentComplete', op: 'gt', value: 'half' }] } }, /conditions\.0\.value: expected an integer/);
    await bad({ userId: fay.id, entity: 'task', rules: { match: 'some', conditions: [{ field: 'status', op: 'like', value: 'open' }] } }, /match: expected "all" or "any".*conditions\.0\.op: operator "like" does not apply to status/, '/sync-filters/preview');
    await bad({ userId: fay.id, entity: 'note', name: 'x', rules: {} }, /entity/);
    const res = await call({ method: 'PATCH', url: `/sync-filters/${saved.id}`, payload: { rules: { match: 'all', conditions: [{ field: 'attendee', op: 'eq', value: { currentUser: true } }] } } });
    expect({ status: res.statusCode, message: res.json().message }).toEqual({ status: 400, message: expect.stringMatching(/unknown field "attendee" for contact/) });
  });

  it("lets a user token list, create, change, preview and delete its own user's filters only", async () => {
    const [gil, hal] = [await newUser('Gil'), await newUser('Hal')];
    const { token } = await tokens.create({ role: 'user', userId: gil.id });
    const own = await api<any[]>({ method: 'GET', url: '/sync-filters', token });
    expect(new Set(own.map((f) => f.userId))).toEqual(new Set([gil.id]));
    expect((await call({ method: 'GET', url: `/sync-filters?userId=${hal.id}`, token })).statusCode).toBe(403);

    const rules = { match: 'all', conditions: [{ field: 'status', op: 'eq', value: 'open' }] };
    const created = await api({ method: 'POST', url: '/sync-filters', token, payload: { entity: 'task', name: 'All open tasks', rules } }, 201);
    expect(created).toMatchObject({ userId: gil.id, entity: 'task', enabled: true, isDefault: false });
    expect(await api({ method: 'PATCH', url: `/sync-filters/${created.id}`, token, payload: { enabled: false } })).toMatchObject({ enabled: false });
    expect(await api({ method: 'POST', url: '/sync-filters/preview', token, payload: { entity: 'task', rules } })).toMatchObject({ count: expect.any(Number) });

    const [halFilter] = await api<any[]>({ method: 'GET', url: `/sync-filters?userId=${hal.id}` });
    for (const req of [
      { method: 'POST', url: '/sync-filters', payload: { userId: hal.id, entity: 'task', name: 'x', rules } },
      { method: 'PATCH', url: `/sync-filters/${halFilter.id}`, payload: { enabled: false } },
      { method: 'GET', url: `/sync-filters/${halFilter.id}/preview` },
      { method: 'DELETE', url: `/sync-filters/${halFilter.id}` },
    ] as InjectOptions[]) {
      const res = await call({ ...req, token });
      expect({ url: req.url, method: req.method, status: res.statusCode }).toEqual({ url: req.url, method: req.method, status: 403 });
    }
    await api({ method: 'DELETE', url: `/sync-filters/${created.id}`, token }, 204);
    expect(await bed.query(`SELECT id FROM sync_filters WHERE id = $1`, [created.id])).toEqual([]);

    // An admin names the user.
    const res = await call({ method: 'POST', url: '/sync-filters', payload: { entity: 'task', name: 'x', rules } });
    expect({ status: res.statusCode, message: res.json().message }).toEqual({ status: 400, message: expect.stringMatching(/userId/) });
  });
});

describe('field directions', () => {
  it("lists Dynamics' defaults, changes a settable field, refuses fixed and unknown ones naming what is allowed, and resets", async () => {
    const all = await api<any[]>({ method: 'GET', url: '/field-directions' });
    expect(all.find((d) => d.entity === 'contact' && d.field === 'jobTitle')).toMatchObject({ direction: 'two_way', fixed: false, outlook: 'Job Title' });
    expect(all.find((d) => d.entity === 'appointment' && d.field === 'time')).toMatchObject({ fixed: true, allowed: ['two_way'], crmFields: ['startsAt', 'endsAt', 'timeZone', 'allDay'] });

    expect(await api({ method: 'PATCH', url: '/field-directions', payload: { entity: 'contact', field: 'jobTitle', direction: 'crm_to_exchange' } })).toMatchObject({
      direction: 'crm_to_exchange',
      default: 'two_way',
    });
    expect(await bed.query(`SELECT entity, field, direction FROM item_field_directions`)).toEqual([{ entity: 'contact', field: 'jobTitle', direction: 'crm_to_exchange' }]);
    expect((await api<any[]>({ method: 'GET', url: '/field-directions' })).find((d) => d.field === 'jobTitle')).toMatchObject({ direction: 'crm_to_exchange' });

    const refused = async (payload: object, message: RegExp) => {
      const res = await call({ method: 'PATCH', url: '/field-directions', payload });
      expect({ status: res.statusCode, message: res.json().message }).toEqual({ status: 400, message: expect.stringMatching(message) });
    };
    await refused({ entity: 'task', field: 'status', direction: 'none' }, /task\.status \(Status\) is fixed at two_way .*: allowed two_way$/);
    await refused({ entity: 'contact', field: 'shoeSize', direction: 'none' }, /contact has no synced field "shoeSize": one of anniversary, /);
    await refused({ entity: 'lead', field: 'subject', direction: 'none' }, /Unknown entity "lead": one of contact, appointment, recurringAppointment, task/);
    await refused({ entity: 'task', field: 'subject', direction: 'up' }, /allowed two_way, crm_to_exchange, exchange_to_crm, none, or default/);

    await api({ method: 'PATCH', url: '/field-directions', payload: { entity: 'contact', field: 'jobTitle', direction: 'default' } });
    expect(await bed.query(`SELECT * FROM item_field_directions`)).toEqual([]);

    const user = await newUser('Ivy');
    const { token } = await tokens.create({ role: 'user', userId: user.id });
    expect((await call({ method: 'GET', url: '/field-directions', token })).statusCode).toBe(200);
    expect((await call({ method: 'PATCH', url: '/field-directions', token, payload: { entity: 'contact', field: 'jobTitle', direction: 'none' } })).statusCode).toBe(403);
  });

  it('keeps unlink-only, the tracking category and the conflict rule with the organisation settings', async () => {
    expect(await api({ method: 'GET', url: '/organization' })).toMatchObject({ itemsUnlinkOnly: false, itemsTrackingCategory: 'Tracked to CRM', itemsConflictRule: 'later_wins' });
    expect(await api({ method: 'PATCH', url: '/organization', payload: { itemsUnlinkOnly: true, itemsTrackingCategory: 'CRM', itemsConflictRule: 'crm_wins' } })).toMatchObject({
      itemsUnlinkOnly: true,
      itemsTrackingCategory: 'CRM',
      itemsConflictRule: 'crm_wins',
    });
    const res = await call({ method: 'PATCH', url: '/organization', payload: { itemsConflictRule: 'exchange_wins', itemsTrackingCategory: '' } });
    expect({ status: res.statusCode, message: res.json().message }).toEqual({ status: 400, message: expect.stringMatching(/itemsTrackingCategory: .*itemsConflictRule|itemsConflictRule: .*itemsTrackingCategory/) });
    await api({ method: 'PATCH', url: '/organization', payload: { itemsUnlinkOnly: false, itemsTrackingCategory: 'Tracked to CRM', itemsConflictRule: 'later_wins' } });
  });
});

describe('appointments and tasks', () => {
  it('keeps a weekly series with one moved and one cancelled occurrence; refuses what makes no series', async () => {
    const owner = await newUser('Jo');
    const recurrence = {
      pattern: { type: 'weekly', interval: 1, daysOfWeek: ['monday'], firstDayOfWeek: 'monday' },
      range: { type: 'numbered', startDate: '2026-12-07', numberOfOccurrences: 10, recurrenceTimeZone: 'Europe/Paris' },
    };
    const series = await api(
      { method: 'POST', url: '/appointments', payload: { subject: 'Weekly', startsAt: '2026-12-07T09:00:00+01:00', endsAt: '2026-12-07T09:30:00+01:00', timeZone: 'Europe/Paris', ownerUserId: owner.id, recurrence } },
      201,
    );
    expect(series.recurrence).toEqual(recurrence);
    const moved = await api(
      {
        method: 'POST',
        url: '/appointments',
        payload: { seriesMasterId: series.id, originalStart: '2026-12-14T08:00:00Z', startsAt: '2026-12-15T08:00:00Z', endsAt: '2026-12-15T08:30:00Z', subject: 'Weekly (moved)' },
      },
      201,
    );
    expect(moved).toMatchObject({ ownerUserId: owner.id, seriesMasterId: series.id, originalStart: '2026-12-14T08:00:00.000Z', cancelled: false, recurrence: null });
    await api(
      { method: 'POST', url: '/appointments', payload: { seriesMasterId: series.id, originalStart: '2026-12-21T08:00:00Z', startsAt: '2026-12-21T08:00:00Z', endsAt: '2026-12-21T08:30:00Z', cancelled: true } },
      201,
    );
    expect((await api({ method: 'GET', url: `/appointments/${series.id}` })).exceptions).toEqual([
      { id: moved.id, originalStart: '2026-12-14T08:00:00.000Z', cancelled: false },
      { id: expect.any(String), originalStart: '2026-12-21T08:00:00.000Z', cancelled: true },
    ]);
    // The list holds series, not their exceptions.
    expect((await api<any[]>({ method: 'GET', url: `/appointments?ownerUserId=${owner.id}` })).map((a) => a.id)).toEqual([series.id]);

    const refused = async (payload: object, status: number, message: RegExp) => {
      const res = await call({ method: 'POST', url: '/appointments', payload });
      expect({ status: res.statusCode, message: res.json().message }).toEqual({ status, message: expect.stringMatching(message) });
    };
    const times = { startsAt: '2026-12-07T09:00:00Z', endsAt: '2026-12-07T10:00:00Z' };
    await refused({ ...times, recurrence: { ...recurrence, pattern: { type: 'weekly', interval: 1 } } }, 400, /recurrence\.pattern\.daysOfWeek: a weekly pattern needs daysOfWeek/);
    await refused({ ...times, recurrence: { ...recurrence, range: { type: 'endDate', startDate: '2026-12-07' } } }, 400, /recurrence\.range\.endDate: a range of type endDate needs endDate/);
    await refused({ ...times, timeZone: 'Mars/Olympus' }, 400, /timeZone: expected an IANA time zone/);
    await refused({ startsAt: '2026-12-07T10:00:00Z', endsAt: '2026-12-07T09:00:00Z' }, 400, /endsAt: endsAt is before startsAt/);
    await refused({ ...times, seriesMasterId: moved.id, originalStart: times.startsAt }, 400, /is no series/);
    await refused({ ...times, seriesMasterId: series.id, originalStart: '2026-12-14T08:00:00Z' }, 409, /exists already/);
    await refused({ ...times, originalStart: times.startsAt }, 400, /seriesMasterId: originalStart and cancelled belong to an exception/);

    // Deleting the series deletes its exceptions, each logged.
    await api({ method: 'DELETE', url: `/appointments/${series.id}` }, 204);
    expect(await bed.query(`SELECT id FROM appointments WHERE id = $1 OR series_master_id = $1`, [series.id])).toEqual([]);
    expect(await bed.query(`SELECT operation FROM crm_change_log WHERE record_id = $1 ORDER BY position DESC LIMIT 1`, [moved.id])).toEqual([{ operation: 'delete' }]);
  });

  it('creates, lists, changes and deletes tasks', async () => {
    const owner = await newUser('Kim');
    const task = await api(
      { method: 'POST', url: '/tasks', payload: { subject: 'Call back', dueAt: '2026-12-10T17:00:00Z', priority: 'high', ownerUserId: owner.id, regardingType: 'account', regardingId: owner.id } },
      201,
    );
    expect(task).toMatchObject({ subject: 'Call back', status: 'open', percentComplete: 0, priority: 'high', dueAt: '2026-12-10T17:00:00.000Z' });
    const done = await api({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { status: 'completed', percentComplete: 100, completedAt: '2026-12-09T10:00:00Z', dueAt: null } });
    expect(done).toMatchObject({ status: 'completed', percentComplete: 100, dueAt: null, completedAt: '2026-12-09T10:00:00.000Z' });
    expect((await api<any[]>({ method: 'GET', url: `/tasks?ownerUserId=${owner.id}&status=completed` })).map((t) => t.id)).toEqual([task.id]);
    const res = await call({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { percentComplete: 150, status: 'finished' } });
    expect({ status: res.statusCode, message: res.json().message }).toEqual({ status: 400, message: expect.stringMatching(/status: .*percentComplete|percentComplete: .*status/) });
    await api({ method: 'DELETE', url: `/tasks/${task.id}` }, 204);
    expect(await api({ method: 'GET', url: `/tasks/${task.id}` }, 404)).toMatchObject({ message: `Task ${task.id} does not exist` });
  });
});
