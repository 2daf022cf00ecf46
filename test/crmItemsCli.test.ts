import { execFile } from 'node:child_process';
import path from 'node:path';
import { TestBed } from './support/testBed';

// The CLI of the synced items, as `npm run cli` runs it, in a child process against this file's database:
// appointments and tasks, sync filters, field directions and the organisation's item settings.

const ROOT = path.resolve(__dirname, '..');
let bed: TestBed;

beforeAll(async () => {
  bed = await TestBed.create();
});

afterAll(async () => {
  await bed?.close();
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), ...args],
      { cwd: ROOT, env: { ...process.env, ...bed.env, LOG_LEVEL: 'warn' }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

async function ok(args: string[]): Promise<any> {
  const run = await cli(args);
  if (run.code !== 0) throw new Error(`cli ${args.join(' ')}: exit ${run.code}\n${run.stderr}\n${run.stdout}`);
  return JSON.parse(run.stdout);
}

it('creates a contact with Dynamics fields, a recurring appointment with attendees, and a task; changes and lists them', async () => {
  const user = await ok(['user', 'create', '--name', 'Lou', '--email', 'lou@items.test']);
  const contact = await ok(['contact', 'create', '--name', 'Max Mustermann', '--email', 'max@customer.test', '--owner', user.id, '--job-title', 'CTO', '--birthday', '1975-02-28', '--address1-city', 'Berlin']);
  expect(contact).toMatchObject({ fullName: 'Max Mustermann', ownerUserId: user.id, jobTitle: 'CTO', birthday: '1975-02-28', address1City: 'Berlin', state: 'active' });
  expect(await ok(['contact', 'update', contact.id, '--job-title', '', '--state', 'inactive'])).toMatchObject({ jobTitle: null, state: 'inactive' });

  const recurrence = JSON.stringify({ pattern: { type: 'weekly', interval: 2, daysOfWeek: ['tuesday'] }, range: { type: 'endDate', startDate: '2026-12-08', endDate: '2027-03-30' } });
  const series = await ok([
    'appointment', 'create', '--subject', 'Review', '--start', '2026-12-08T14:00:00Z', '--end', '2026-12-08T15:00:00Z', '--time-zone', 'America/New_York',
    '--organizer', 'lou@items.test', '--attendee', 'max@customer.test', '--optional-attendee', 'guest@else.test', '--recurrence', recurrence, '--owner', user.id,
  ]);
  expect(series).toMatchObject({
    organizer: { type: 'user', id: user.id },
    attendees: [
      { role: 'required', address: 'max@customer.test', record: { type: 'contact', id: contact.id } },
      { role: 'optional', address: 'guest@else.test', record: null },
    ],
    recurrence: JSON.parse(recurrence),
  });
  const cancelled = await ok(['appointment', 'create', '--series', series.id, '--original-start', '2026-12-22T14:00:00Z', '--start', '2026-12-22T14:00:00Z', '--end', '2026-12-22T15:00:00Z', '--cancelled', 'yes']);
  expect(cancelled).toMatchObject({ seriesMasterId: series.id, cancelled: true, ownerUserId: user.id });
  expect((await ok(['appointment', 'show', series.id])).exceptions).toEqual([{ id: cancelled.id, originalStart: '2026-12-22T14:00:00.000Z', cancelled: true }]);
  expect(await ok(['appointment', 'update', series.id, '--recurrence', '', '--location', 'Room 2'])).toMatchObject({ recurrence: null, location: 'Room 2' });

  const task = await ok(['task', 'create', '--subject', 'Send quote', '--due', '2026-12-11T12:00:00Z', '--owner', user.id, '--priority', 'high']);
  expect(await ok(['task', 'update', task.id, '--percent', '40'])).toMatchObject({ percentComplete: 40 });
  expect((await ok(['task', 'list', '--owner', user.id])).map((t: any) => t.id)).toEqual([task.id]);

  const bad = await cli(['task', 'update', task.id, '--percent', 'most']);
  expect({ code: bad.code, stderr: bad.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/--percent: Invalid input: expected number/) });
  const badRecurrence = await cli(['appointment', 'create', '--start', '2026-12-08T14:00:00Z', '--end', '2026-12-08T15:00:00Z', '--recurrence', '{weekly']);
  expect({ code: badRecurrence.code, stderr: badRecurrence.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/--recurrence: not JSON/) });
});

it('lists, tries, creates, disables and previews sync filters; bad rules name the problem', async () => {
  const user = await ok(['user', 'create', '--name', 'Mia', '--email', 'mia@items.test']);
  expect((await ok(['filter', 'list', '--user', user.id])).map((f: any) => f.name)).toEqual(['Appointments I organise or attend', 'My active contacts', 'My open tasks']);
  await ok(['task', 'create', '--subject', 'Mine', '--owner', user.id]);
  const rules = JSON.stringify({ match: 'all', conditions: [{ field: 'ownerUserId', op: 'eq', value: { currentUser: true } }, { field: 'priority', op: 'in', value: ['normal', 'high'] }] });
  expect(await ok(['filter', 'try', '--user', user.id, '--entity', 'task', '--rules', rules])).toMatchObject({ count: 1, records: [{ label: 'Mine' }] });
  const filter = await ok(['filter', 'create', '--user', user.id, '--entity', 'task', '--name', 'Normal and up', '--rules', rules, '--disabled']);
  expect(filter).toMatchObject({ enabled: false, entity: 'task' });
  expect(await ok(['filter', 'enable', filter.id])).toMatchObject({ enabled: true });
  expect(await ok(['filter', 'preview', filter.id])).toMatchObject({ count: 1 });
  expect(await ok(['filter', 'disable', filter.id])).toMatchObject({ enabled: false });

  const bad = await cli(['filter', 'update', filter.id, '--rules', JSON.stringify({ match: 'all', conditions: [{ field: 'priority', op: 'gt', value: 'low' }] })]);
  expect({ code: bad.code, stderr: bad.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/conditions\.0\.op: operator "gt" does not apply to priority; priority takes eq, ne, in/) });
  expect(await ok(['filter', 'delete', filter.id])).toEqual({ deleted: filter.id });
});

it('shows and sets field directions, refusing a fixed field; sets the organisation item settings', async () => {
  const subject = (await ok(['field-direction', 'list', '--entity', 'task'])).find((d: any) => d.field === 'subject');
  expect(subject).toMatchObject({ direction: 'two_way', fixed: false });
  expect(await ok(['field-direction', 'set', 'task', 'subject', 'crm_to_exchange'])).toMatchObject({ direction: 'crm_to_exchange' });
  const fixed = await cli(['field-direction', 'set', 'recurringAppointment', 'recurrence', 'none']);
  expect({ code: fixed.code, stderr: fixed.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/recurringAppointment\.recurrence \(Recurrence Pattern\) is fixed at two_way/) });

  expect(await ok(['organization', 'set', '--items-unlink-only', 'yes', '--tracking-category', 'In CRM', '--conflict-rule', 'crm_wins'])).toMatchObject({
    itemsUnlinkOnly: true,
    itemsTrackingCategory: 'In CRM',
    itemsConflictRule: 'crm_wins',
  });
  const bad = await cli(['organization', 'set', '--conflict-rule', 'newest']);
  expect({ code: bad.code, stderr: bad.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/--conflict-rule/) });
});
