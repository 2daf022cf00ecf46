import {
  contactMatchKey,
  crmDeleted,
  DEFAULT_DELETE_RULES,
  DELETE_RULES,
  exchangeDeleted,
  filterOut,
  mergeItem,
  newItemDecision,
  snapshot,
  untracked,
  type MergeField,
  type MergeInput,
} from '../../src/policy/itemMerge';

const fields: MergeField[] = [
  { field: 'jobTitle', crmFields: ['jobTitle'], direction: 'two_way' },
  { field: 'department', crmFields: ['department'], direction: 'two_way' },
  { field: 'fullName', crmFields: ['fullName', 'lastName'], direction: 'two_way' },
  { field: 'pager', crmFields: ['pager'], direction: 'crm_to_exchange' },
  { field: 'nickname', crmFields: ['nickname'], direction: 'exchange_to_crm' },
  { field: 'website', crmFields: ['website'], direction: 'none' },
];
const base = { jobTitle: 'CEO', department: 'Sales', fullName: 'Ann Lee', lastName: 'Lee', pager: '1', nickname: 'A', website: 'a.example' };
const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:01:00Z');

const input = (crm: object, remote: object, extra: Partial<MergeInput> = {}): MergeInput => ({
  fields,
  crm: { ...base, ...crm },
  crmBase: base,
  remote: { ...base, ...remote },
  remoteBase: base,
  rule: 'later_wins',
  crmModifiedAt: t0,
  remoteModifiedAt: t0,
  ...extra,
});

describe('three-way merge of an item', () => {
  it('writes nothing when neither side changed', () => {
    expect(mergeItem(input({}, {}))).toEqual({ toCrm: {}, toRemote: {}, conflicts: [] });
  });

  it('takes each field from the side that changed it: different fields both survive', () => {
    expect(mergeItem(input({ jobTitle: 'CTO' }, { department: 'Support' }))).toEqual({
      toCrm: { department: 'Support' },
      toRemote: { jobTitle: 'CTO' },
      conflicts: [],
    });
  });

  it('moves a bundled field as a whole', () => {
    expect(mergeItem(input({}, { lastName: 'Li' })).toCrm).toEqual({ fullName: 'Ann Lee', lastName: 'Li' });
  });

  it('resolves the same field changed on both sides by the later change, and names it', () => {
    expect(mergeItem(input({ jobTitle: 'CTO' }, { jobTitle: 'CFO' }, { remoteModifiedAt: t1 }))).toEqual({
      toCrm: { jobTitle: 'CFO' },
      toRemote: {},
      conflicts: ['jobTitle'],
    });
    expect(mergeItem(input({ jobTitle: 'CTO' }, { jobTitle: 'CFO' }, { crmModifiedAt: t1 }))).toEqual({
      toCrm: {},
      toRemote: { jobTitle: 'CTO' },
      conflicts: ['jobTitle'],
    });
  });

  it('gives a conflict within one second to the item: Graph dates its changes in whole seconds', () => {
    const sameSecond = { crmModifiedAt: new Date('2026-01-01T00:00:00.900Z'), remoteModifiedAt: new Date('2026-01-01T00:00:00Z') };
    expect(mergeItem(input({ jobTitle: 'CTO' }, { jobTitle: 'CFO' }, sameSecond)).toCrm).toEqual({ jobTitle: 'CFO' });
    expect(mergeItem(input({ jobTitle: 'CTO' }, { jobTitle: 'CFO' }, { ...sameSecond, rule: 'crm_wins' })).toRemote).toEqual({ jobTitle: 'CTO' });
  });

  it("settles on the item's form when the sides differ though neither changed (no conflict, however late the CRM record)", () => {
    const differing = { ...input({}, {}), remote: { ...base, jobTitle: 'Engineer ' }, remoteBase: { ...base, jobTitle: 'Engineer ' } };
    expect(mergeItem({ ...differing, crmModifiedAt: t1 })).toEqual({ toCrm: { jobTitle: 'Engineer ' }, toRemote: {}, conflicts: [] });
  });

  it('lets the CRM win every conflict with crm_wins', () => {
    expect(mergeItem(input({ jobTitle: 'CTO' }, { jobTitle: 'CFO' }, { remoteModifiedAt: t1, rule: 'crm_wins' }))).toEqual({
      toCrm: {},
      toRemote: { jobTitle: 'CTO' },
      conflicts: ['jobTitle'],
    });
  });

  it('is no conflict when both sides made the same change', () => {
    expect(mergeItem(input({ jobTitle: 'CTO' }, { jobTitle: 'CTO' }))).toEqual({ toCrm: {}, toRemote: {}, conflicts: [] });
  });

  it('overwrites a one-way field from its owning side and never writes it to that side', () => {
    expect(mergeItem(input({}, { pager: '2' }))).toEqual({ toCrm: {}, toRemote: { pager: '1' }, conflicts: [] });
    expect(mergeItem(input({ pager: '3' }, {}))).toEqual({ toCrm: {}, toRemote: { pager: '3' }, conflicts: [] });
    expect(mergeItem(input({ nickname: 'B' }, {}))).toEqual({ toCrm: { nickname: 'A' }, toRemote: {}, conflicts: [] });
    expect(mergeItem(input({}, { nickname: 'C' }))).toEqual({ toCrm: { nickname: 'C' }, toRemote: {}, conflicts: [] });
  });

  it('leaves a one-way field that differs alone until a side changes it (an Exchange item tracked with its own value)', () => {
    const tracked = { crmBase: { ...base, pager: null, nickname: null }, remoteBase: { ...base, pager: '9', nickname: 'Z' } };
    expect(mergeItem(input({ pager: null, nickname: null }, { pager: '9', nickname: 'Z' }, tracked))).toEqual({ toCrm: {}, toRemote: {}, conflicts: [] });
    expect(mergeItem(input({ pager: null, nickname: null }, { pager: '8', nickname: 'Z' }, tracked))).toEqual({ toCrm: {}, toRemote: { pager: null }, conflicts: [] });
    // A first link has no snapshots: the owning side's value goes over.
    expect(mergeItem(input({}, { pager: '9' }, { crmBase: null, remoteBase: null }))).toEqual(expect.objectContaining({ toRemote: { pager: '1' } }));
  });

  it('leaves fields that are not synced, or that the provider does not carry, alone', () => {
    expect(mergeItem(input({ website: 'b.example' }, { website: 'c.example' }))).toEqual({ toCrm: {}, toRemote: {}, conflicts: [] });
    const { department: _, ...withoutDepartment } = base;
    expect(mergeItem({ ...input({ department: 'HR' }, {}), remote: withoutDepartment })).toEqual({ toCrm: {}, toRemote: {}, conflicts: [] });
  });

  it('on a first link keeps the CRM value, filling only what the CRM lacks', () => {
    const r = mergeItem(input({ jobTitle: 'CTO', department: null }, { jobTitle: 'CFO', department: 'Support' }, { crmBase: null, remoteBase: null }));
    expect(r).toEqual({ toCrm: { department: 'Support' }, toRemote: { jobTitle: 'CTO' }, conflicts: [] });
  });

  it('compares instants and empty strings by value', () => {
    const when = new Date('2026-02-03T04:05:06Z');
    const f: MergeField[] = [{ field: 'completedAt', crmFields: ['completedAt'], direction: 'two_way' }];
    const r = mergeItem({ ...input({}, {}), fields: f, crm: { completedAt: when }, crmBase: { completedAt: when.toISOString() }, remote: { completedAt: when.toISOString() }, remoteBase: { completedAt: when.toISOString() } });
    expect(r.toCrm).toEqual({});
    expect(snapshot({ jobTitle: '', pager: 'x', website: 'w' }, fields)).toEqual({ jobTitle: null, department: null, fullName: null, lastName: null, pager: 'x', nickname: null });
  });

  it('compares instants however written, and attendees without the CRM record they resolved to', () => {
    const f: MergeField[] = [
      { field: 'time', crmFields: ['startsAt'], direction: 'two_way' },
      { field: 'requiredAttendees', crmFields: ['attendees'], direction: 'two_way' },
    ];
    const crm = { startsAt: new Date('2026-03-01T09:00:00Z'), attendees: [{ role: 'required', address: 'Bo@x.example', name: 'Bo', record: { type: 'contact', id: 'c' } }] };
    const remote = { startsAt: '2026-03-01T10:00:00+01:00', attendees: [{ role: 'required', address: 'bo@x.example', name: 'Bo' }] };
    expect(mergeItem({ ...input({}, {}), fields: f, crm, crmBase: snapshot(crm, f), remote, remoteBase: snapshot(remote, f) })).toEqual({ toCrm: {}, toRemote: {}, conflicts: [] });
  });
});

describe('deletes per entity', () => {
  const now = t1;
  it("follows Dynamics for contacts: the owner keeps a CRM-deleted contact; only the owner's Exchange delete reaches the CRM", () => {
    expect(crmDeleted({ entity: 'contact', userId: 'u', ownerUserId: 'u', now })).toBe('unlink');
    expect(crmDeleted({ entity: 'contact', userId: 'u', ownerUserId: 'v', now })).toBe('delete');
    expect(exchangeDeleted({ entity: 'contact', userId: 'u', ownerUserId: 'u', now })).toBe('delete');
    expect(exchangeDeleted({ entity: 'contact', userId: 'u', ownerUserId: 'v', now })).toBe('unlink');
  });

  it('keeps a task completed in Exchange, and deletes the CRM task by default', () => {
    expect(crmDeleted({ entity: 'task', userId: 'u', ownerUserId: 'u', completedInExchange: true, now })).toBe('unlink');
    expect(crmDeleted({ entity: 'task', userId: 'u', ownerUserId: 'u', completedInExchange: false, now })).toBe('delete');
    expect(exchangeDeleted({ entity: 'task', userId: 'u', ownerUserId: 'u', now })).toBe('delete');
  });

  it('deletes appointments only when organised by the user, to come, and not closed', () => {
    const future = new Date(now.getTime() + 3600_000);
    const ok = { entity: 'appointment' as const, userId: 'u', ownerUserId: 'u', organizedByUser: true, startsAt: future, status: 'open', now };
    expect(crmDeleted(ok)).toBe('delete');
    expect(exchangeDeleted(ok)).toBe('delete');
    expect(crmDeleted({ ...ok, organizedByUser: false })).toBe('unlink');
    expect(crmDeleted({ ...ok, startsAt: t0 })).toBe('unlink');
    expect(exchangeDeleted({ ...ok, status: 'canceled' })).toBe('unlink');
  });

  it("defaults every rule to Dynamics' own", () => {
    expect(Object.keys(DEFAULT_DELETE_RULES).sort()).toEqual(
      ['appointmentFromCrm', 'appointmentFromExchange', 'contactFromCrm', 'contactFromExchange', 'taskFromCrm', 'taskFromExchange'],
    );
    expect(new Set(Object.values(DEFAULT_DELETE_RULES))).toEqual(new Set(['dynamics']));
  });

  it('lets each rule, per entity and direction, be set to delete or unlink whatever Dynamics would do', () => {
    const future = new Date(now.getTime() + 3600_000);
    // Per entity, cases where Dynamics deletes and where it unlinks.
    const owner = { entity: 'contact' as const, userId: 'u', ownerUserId: 'u', now };
    const completedTask = { entity: 'task' as const, userId: 'u', ownerUserId: 'u', completedInExchange: true, now };
    const pastMeeting = { entity: 'appointment' as const, userId: 'u', ownerUserId: 'u', organizedByUser: true, startsAt: t0, status: 'open', now };
    const meetingToCome = { ...pastMeeting, startsAt: future };
    const all = [owner, completedTask, pastMeeting, meetingToCome];
    for (const c of all) {
      for (const rule of DELETE_RULES) {
        const rules = { ...DEFAULT_DELETE_RULES, [`${c.entity}FromCrm`]: rule, [`${c.entity}FromExchange`]: rule };
        if (rule !== 'dynamics') {
          expect({ c, rule, crm: crmDeleted(c, rules) }).toEqual({ c, rule, crm: rule });
          expect({ c, rule, exchange: exchangeDeleted(c, rules) }).toEqual({ c, rule, exchange: rule });
        } else {
          expect(crmDeleted(c, rules)).toBe(crmDeleted(c));
          expect(exchangeDeleted(c, rules)).toBe(exchangeDeleted(c));
        }
      }
    }
    // A rule changes its own entity and direction only.
    expect(crmDeleted(owner, { ...DEFAULT_DELETE_RULES, contactFromExchange: 'unlink' })).toBe('unlink');
    expect(exchangeDeleted(owner, { ...DEFAULT_DELETE_RULES, contactFromCrm: 'unlink' })).toBe('delete');
    expect(exchangeDeleted({ ...owner, entity: 'task' }, { ...DEFAULT_DELETE_RULES, contactFromExchange: 'unlink', taskFromCrm: 'unlink' })).toBe('delete');
    expect(exchangeDeleted({ ...owner, entity: 'task' }, { ...DEFAULT_DELETE_RULES, taskFromExchange: 'unlink' })).toBe('unlink');
    expect(crmDeleted(meetingToCome, { ...DEFAULT_DELETE_RULES, appointmentFromExchange: 'unlink' })).toBe('delete');
  });

  it('removes a filtered-out record from Exchange unless "unlink only"', () => {
    expect(filterOut(false, { entity: 'contact' })).toBe('delete');
    expect(filterOut(true, { entity: 'contact' })).toBe('unlink');
    expect(filterOut(false, { entity: 'task', completedInExchange: true })).toBe('unlink');
    expect(filterOut(false, { entity: 'task', completedInExchange: false })).toBe('delete');
  });
});

describe('new items from Exchange', () => {
  it('links a stamped item, tracks a categorised one (any case), ignores the rest', () => {
    expect(newItemDecision({ crmId: 'c1', categories: [] }, 'Tracked to CRM', true)).toEqual({ kind: 'link', crmId: 'c1' });
    expect(newItemDecision({ crmId: 'c1', categories: ['tracked to crm'] }, 'Tracked to CRM', false)).toEqual({ kind: 'track' });
    expect(newItemDecision({ crmId: null, categories: ['Red'] }, 'Tracked to CRM', false)).toEqual({ kind: 'ignore' });
  });

  it('unlinks a tracked item whose category was removed, never a synced one', () => {
    expect(untracked('tracked', ['Red'], 'Tracked to CRM')).toBe(true);
    expect(untracked('tracked', ['Tracked to CRM'], 'Tracked to CRM')).toBe(false);
    expect(untracked('synced', [], 'Tracked to CRM')).toBe(false);
  });

  it('matches contacts on address and name, whatever the case and spacing', () => {
    expect(contactMatchKey(' Ann@Example.com', 'Ann  Lee')).toBe(contactMatchKey('ann@example.com', 'ann lee'));
    expect(contactMatchKey(null, 'Ann Lee')).toBeNull();
  });
});
