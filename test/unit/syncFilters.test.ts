import { compileFilter, compileFilters, FilterRuleError, parseFilterRules } from '../../src/policy/syncFilters';

const ME = '11111111-1111-4111-8111-111111111111';
const OTHER = '22222222-2222-4222-8222-222222222222';
const ctx = { alias: 'r', firstParam: 1, currentUserId: ME };

const problemsOf = (entity: 'contact' | 'appointment' | 'task', rules: unknown): string[] => {
  try {
    parseFilterRules(entity, rules);
    return [];
  } catch (err) {
    if (err instanceof FilterRuleError) return err.problems;
    throw err;
  }
};

describe('compileFilter', () => {
  it("compiles Dynamics' default contact filter, currentUser becoming the filter's user", () => {
    const compiled = compileFilter(
      'contact',
      { match: 'all', conditions: [{ field: 'ownerUserId', op: 'eq', value: { currentUser: true } }, { field: 'state', op: 'eq', value: 'active' }] },
      ctx,
    );
    expect(compiled).toEqual({ sql: '(r.owner_user_id = $1::uuid AND r.state = $2::text)', params: [ME, 'active'] });
  });

  it('compiles the appointment default: organizer or attendee, through the attendee table', () => {
    const compiled = compileFilter(
      'appointment',
      { match: 'any', conditions: [{ field: 'organizer', op: 'eq', value: { currentUser: true } }, { field: 'attendee', op: 'eq', value: { currentUser: true } }] },
      ctx,
    );
    expect(compiled.sql).toBe(
      "((r.organizer_type = 'user' AND r.organizer_id = ANY($1::uuid[])) OR " +
        "EXISTS (SELECT 1 FROM appointment_attendees x WHERE x.appointment_id = r.id AND x.party_type = 'user' AND x.party_id = ANY($2::uuid[])))",
    );
    expect(compiled.params).toEqual([[ME], [ME]]);
  });

  it('numbers placeholders from firstParam, nests groups, and handles every operator', () => {
    const compiled = compileFilter(
      'task',
      {
        match: 'all',
        conditions: [
          { field: 'status', op: 'in', value: ['open', 'completed'] },
          { field: 'percentComplete', op: 'gt', value: 10 },
          { field: 'percentComplete', op: 'lt', value: 90 },
          { field: 'subject', op: 'ne', value: 'x' },
          { match: 'any', conditions: [{ field: 'dueAt', op: 'is-null' }, { field: 'dueAt', op: 'relative-date', value: { from: -14, to: 7 } }] },
          { field: 'regardingId', op: 'is-null', value: false },
          { field: 'ownerUserId', op: 'in', value: [{ currentUser: true }, OTHER] },
        ],
      },
      { ...ctx, firstParam: 4 },
    );
    expect(compiled.sql).toBe(
      '(r.status = ANY($4::text[]) AND r.percent_complete > $5::bigint AND r.percent_complete < $6::bigint AND r.subject IS DISTINCT FROM $7::text' +
        ' AND (r.due_at IS NULL OR (r.due_at >= (now() + make_interval(days => $8::integer)) AND r.due_at < (now() + make_interval(days => $9::integer))))' +
        ' AND r.regarding_id IS NOT NULL AND r.owner_user_id = ANY($10::uuid[]))',
    );
    expect(compiled.params).toEqual([['open', 'completed'], 10, 90, 'x', -14, 7, [ME, OTHER]]);
  });

  it('compares email addresses without case, and dates as calendar dates', () => {
    const compiled = compileFilter(
      'contact',
      {
        match: 'all',
        conditions: [
          { field: 'email', op: 'eq', value: 'Ann@Example.TEST' },
          { field: 'email2', op: 'in', value: ['B@x.test'] },
          { field: 'birthday', op: 'relative-date', value: { to: 30 } },
          { field: 'anniversary', op: 'gt', value: '2020-01-31' },
        ],
      },
      ctx,
    );
    expect(compiled.sql).toBe(
      '(lower(r.email) = lower($1::text) AND lower(r.email2) = ANY($2::text[]) AND (r.birthday < (current_date + $3::integer)) AND r.anniversary > $4::date)',
    );
    expect(compiled.params).toEqual(['Ann@Example.TEST', ['b@x.test'], 30, '2020-01-31']);
  });

  it.each([
    ["'; DROP TABLE contacts; --"],
    ['active\' OR \'1\'=\'1'],
    ['$1'],
    ['") OR true --'],
  ])('keeps a hostile value %j out of the SQL: it travels as a parameter', (hostile) => {
    const compiled = compileFilter('contact', { match: 'any', conditions: [{ field: 'jobTitle', op: 'eq', value: hostile }, { field: 'companyName', op: 'in', value: [hostile] }] }, ctx);
    expect(compiled.sql).toBe('(r.job_title = $1::text OR r.company_name = ANY($2::text[]))');
    expect(compiled.params).toEqual([hostile, [hostile]]);
  });

  it('refuses a hostile field or operator rather than put it in the SQL', () => {
    expect(problemsOf('contact', { match: 'all', conditions: [{ field: 'full_name; DROP TABLE x', op: 'eq', value: 'a' }] })[0]).toMatch(
      /^conditions\.0\.field: unknown field "full_name; DROP TABLE x" for contact; filterable fields: fullName, firstName/,
    );
    expect(problemsOf('contact', { match: 'all', conditions: [{ field: 'fullName', op: '= \'a\' OR', value: 'a' }] })).toEqual([
      `conditions.0.op: operator "= 'a' OR" does not apply to fullName; fullName takes eq, ne, in`,
    ]);
    expect(problemsOf('contact', { match: 'all) OR (true', conditions: [{ field: 'fullName', op: 'eq', value: 'a' }] })).toEqual(['match: expected "all" or "any"']);
  });

  it('unions several filters, and none is false', () => {
    const one = { match: 'all', conditions: [{ field: 'ownerUserId', op: 'eq', value: { currentUser: true } }] };
    const two = { match: 'all', conditions: [{ field: 'subject', op: 'eq', value: 'x' }] };
    expect(compileFilters('task', [one, two], { ...ctx, firstParam: 2 })).toEqual({
      sql: '((r.owner_user_id = $2::uuid) OR (r.subject = $3::text))',
      params: [ME, 'x'],
    });
    expect(compileFilters('task', [], ctx)).toEqual({ sql: 'false', params: [] });
  });
});

describe('parseFilterRules', () => {
  it.each([
    ['not an object', 'contact', 'x', /^rules: expected an object/],
    ['no conditions', 'contact', { match: 'all', conditions: [] }, /^conditions: expected a non-empty list/],
    ['an unknown key', 'contact', { match: 'all', conditions: [{ field: 'state', op: 'eq', value: 'active', extra: 1 }] }, /conditions\.0: unknown key "extra"/],
    ['a field of another entity', 'task', { match: 'all', conditions: [{ field: 'jobTitle', op: 'eq', value: 'x' }] }, /unknown field "jobTitle" for task/],
    ['gt on text', 'contact', { match: 'all', conditions: [{ field: 'jobTitle', op: 'gt', value: 'x' }] }, /operator "gt" does not apply to jobTitle; jobTitle takes eq, ne, in, is-null/],
    ['a value of the wrong type', 'task', { match: 'all', conditions: [{ field: 'percentComplete', op: 'eq', value: '50' }] }, /conditions\.0\.value: expected an integer/],
    ['an unknown enum value', 'contact', { match: 'all', conditions: [{ field: 'state', op: 'eq', value: 'deleted' }] }, /expected one of active, inactive/],
    ['a bad user', 'contact', { match: 'all', conditions: [{ field: 'ownerUserId', op: 'eq', value: 'me' }] }, /expected a user id \(UUID\) or \{"currentUser": true\}/],
    ['a bad date', 'contact', { match: 'all', conditions: [{ field: 'birthday', op: 'eq', value: '04/05/1980' }] }, /expected a date such as 2026-12-31/],
    ['a bad list item', 'task', { match: 'all', conditions: [{ field: 'status', op: 'in', value: ['open', 'done'] }] }, /conditions\.0\.value\.1: expected one of open, completed, canceled/],
    ['an empty list', 'task', { match: 'all', conditions: [{ field: 'status', op: 'in', value: [] }] }, /"in" takes a list of 1 to 500 values/],
    ['a bad relative date', 'task', { match: 'all', conditions: [{ field: 'dueAt', op: 'relative-date', value: { last: 3 } }] }, /"relative-date" takes \{ "from": days, "to": days \}/],
    ['is-null on a field always set', 'task', { match: 'all', conditions: [{ field: 'status', op: 'is-null' }] }, /operator "is-null" does not apply to status/],
    ['a nested problem', 'appointment', { match: 'any', conditions: [{ match: 'all', conditions: [{ field: 'attendee', op: 'is-null' }] }] }, /^conditions\.0\.conditions\.0\.op: operator "is-null" does not apply to attendee/],
  ])('refuses %s, naming where', (_what, entity, rules, message) => {
    const problems = problemsOf(entity as 'contact', rules);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('; ')).toMatch(message);
  });

  it('accepts the three defaults', () => {
    expect(problemsOf('contact', { match: 'all', conditions: [{ field: 'ownerUserId', op: 'eq', value: { currentUser: true } }, { field: 'state', op: 'eq', value: 'active' }] })).toEqual([]);
    expect(problemsOf('appointment', { match: 'any', conditions: [{ field: 'organizer', op: 'eq', value: { currentUser: true } }, { field: 'attendee', op: 'eq', value: { currentUser: true } }] })).toEqual([]);
    expect(problemsOf('task', { match: 'all', conditions: [{ field: 'ownerUserId', op: 'eq', value: { currentUser: true } }, { field: 'status', op: 'eq', value: 'open' }] })).toEqual([]);
  });
});
