import { checkDirectionChange, effectiveDirections, FIELD_DIRECTIONS, flowsTo } from '../../src/policy/fieldDirections';
import { APPOINTMENT_FIELDS, CONTACT_FIELDS, TASK_FIELDS } from '../../src/crm/itemFields';

describe('field directions', () => {
  it("has Dynamics' fixed fields fixed (§1.1, 1.2, 1.4, 1.5), and the rest settable, all two-way by default but attachments", () => {
    const fixed = Object.fromEntries(
      Object.entries(FIELD_DIRECTIONS).map(([entity, fields]) => [entity, Object.entries(fields).filter(([, f]) => f.fixed).map(([name]) => name).sort()]),
    );
    expect(fixed).toEqual({
      appointment: ['attachments', 'optionalAttendees', 'organizer', 'priority', 'regarding', 'requiredAttendees', 'showAs', 'time'],
      recurringAppointment: ['optionalAttendees', 'organizer', 'priority', 'recurrence', 'regarding', 'requiredAttendees', 'showAs'],
      contact: ['companyName', 'fullName'],
      task: ['priority', 'regarding', 'status'],
    });
    const defaults = effectiveDirections([]).filter((d) => d.direction !== 'two_way').map((d) => `${d.entity}.${d.field}:${d.direction}`);
    expect(defaults).toEqual(['appointment.attachments:none']);
  });

  it('maps every synced CRM field to a field of the record (contacts: every field but owner, state and times)', () => {
    const known = { contact: CONTACT_FIELDS, appointment: APPOINTMENT_FIELDS, recurringAppointment: APPOINTMENT_FIELDS, task: TASK_FIELDS };
    const extra = new Set(['attendees', 'organizer', 'recurrence']);
    for (const [entity, fields] of Object.entries(FIELD_DIRECTIONS)) {
      for (const f of Object.values(fields)) {
        for (const crmField of f.crmFields) expect({ entity, crmField, known: crmField in known[entity as keyof typeof known] || extra.has(crmField) }).toEqual({ entity, crmField, known: true });
      }
    }
    const covered = new Set(Object.values(FIELD_DIRECTIONS.contact).flatMap((f) => f.crmFields));
    const notSynced = Object.keys(CONTACT_FIELDS).filter((f) => !covered.has(f));
    expect(notSynced.sort()).toEqual(['createdAt', 'modifiedAt', 'ownerUserId', 'state']);
    const taskCovered = new Set(Object.values(FIELD_DIRECTIONS.task).flatMap((f) => f.crmFields));
    expect(Object.keys(TASK_FIELDS).filter((f) => !taskCovered.has(f)).sort()).toEqual(['createdAt', 'modifiedAt', 'ownerUserId', 'state']);
  });

  it('applies overrides of settable fields, ignores those of fixed or unknown fields', () => {
    const all = effectiveDirections([
      { entity: 'contact', field: 'jobTitle', direction: 'crm_to_exchange' },
      { entity: 'task', field: 'priority', direction: 'none' },
      { entity: 'task', field: 'gone', direction: 'none' },
    ]);
    const get = (entity: string, field: string) => all.find((d) => d.entity === entity && d.field === field);
    expect(get('contact', 'jobTitle')).toMatchObject({ direction: 'crm_to_exchange', default: 'two_way', allowed: ['two_way', 'crm_to_exchange', 'exchange_to_crm', 'none'] });
    expect(get('task', 'priority')).toMatchObject({ direction: 'two_way', fixed: true, allowed: ['two_way'] });
    expect(get('task', 'gone')).toBeUndefined();
  });

  it.each([
    ['contact', 'jobTitle', 'none', { ok: true, entity: 'contact', field: 'jobTitle', direction: 'none' }],
    ['appointment', 'subject', 'exchange_to_crm', { ok: true, entity: 'appointment', field: 'subject', direction: 'exchange_to_crm' }],
    ['appointment', 'attachments', 'default', { ok: true, entity: 'appointment', field: 'attachments', direction: 'none' }],
    ['appointment', 'time', 'none', { ok: false, problem: 'appointment.time (Appointment Time) is fixed at two_way (Dynamics does not let it change): allowed two_way' }],
    ['contact', 'fullName', 'crm_to_exchange', { ok: false, problem: expect.stringMatching(/contact\.fullName \(Full Name\) is fixed at two_way/) }],
    ['contact', 'shoeSize', 'none', { ok: false, problem: expect.stringMatching(/^contact has no synced field "shoeSize": one of anniversary, assistantName/) }],
    ['lead', 'subject', 'none', { ok: false, problem: 'Unknown entity "lead": one of contact, appointment, recurringAppointment, task' }],
    ['task', 'subject', 'sideways', { ok: false, problem: 'Unknown direction "sideways" for task.subject: allowed two_way, crm_to_exchange, exchange_to_crm, none, or default' }],
  ])('checks %s.%s -> %s', (entity, field, direction, expected) => {
    expect(checkDirectionChange(entity, field, direction)).toEqual(expected);
  });

  it('says which way a direction flows', () => {
    expect([flowsTo('two_way', 'crm'), flowsTo('two_way', 'exchange')]).toEqual([true, true]);
    expect([flowsTo('crm_to_exchange', 'crm'), flowsTo('crm_to_exchange', 'exchange')]).toEqual([false, true]);
    expect([flowsTo('exchange_to_crm', 'crm'), flowsTo('exchange_to_crm', 'exchange')]).toEqual([true, false]);
    expect([flowsTo('none', 'crm'), flowsTo('none', 'exchange')]).toEqual([false, false]);
  });
});
