import type { z } from 'zod';
import { RecordQuery } from '../../admin/crmSchemas';
import type { CrmRecords, RecordStore } from '../../crm/crmRecords';
import { command, type Command, type OptionSpec } from '../command';

/** One field of a CRM record, as a CLI option. */
export interface RecordField {
  flag: string;
  field: string;
  placeholder: string;
  description: string;
  required?: boolean;
  /** Always has a value (a default when not given), so "" does not clear it. */
  alwaysSet?: boolean;
}

/**
 * create, list, show, update and delete for one CRM record type: the same five commands for
 * contacts, leads, accounts and queues. In `update`, an empty value ("") clears an optional field.
 */
export function recordCommands(r: {
  group: string;
  plural: string;
  store: (crm: CrmRecords) => RecordStore<unknown, z.ZodType, z.ZodType>;
  schema: z.ZodObject;
  fields: RecordField[];
}): Command[] {
  const a = /^[aeiou]/.test(r.group) ? `an ${r.group}` : `a ${r.group}`;
  const id = { name: 'ID', description: `the ${r.group}`, uuid: true };
  const clearable = (f: RecordField) => !f.required && !f.alwaysSet;
  const options = (forUpdate: boolean) =>
    Object.fromEntries(
      r.fields.map((f): [string, OptionSpec] => [
        f.flag,
        {
          type: 'string',
          placeholder: f.placeholder,
          field: f.field,
          description: forUpdate && clearable(f) ? `${f.description} ("" clears it)` : f.description,
          required: !forUpdate && f.required,
        },
      ]),
    );
  const input = (opts: Record<string, unknown>, forUpdate: boolean) =>
    Object.fromEntries(
      r.fields
        .filter((f) => opts[f.flag] !== undefined)
        .map((f) => [f.field, forUpdate && clearable(f) && opts[f.flag] === '' ? null : opts[f.flag]]),
    );
  const store = async (ctx: Parameters<Command['run']>[1]) => r.store(await ctx.crm());
  return [
    command({
      path: [r.group, 'create'],
      summary: `Create ${a}`,
      schema: r.schema,
      options: options(false),
      run: async ({ opts }, ctx) => ({ output: await (await store(ctx)).create(input(opts, false)) }),
    }),
    command({
      path: [r.group, 'list'],
      summary: `List ${r.plural}, oldest first`,
      schema: RecordQuery,
      options: {
        email: { type: 'string', placeholder: 'ADDRESS', description: 'only those with this email address', field: 'email' },
        limit: { type: 'string', placeholder: 'N', description: 'at most this many', field: 'limit' },
        offset: { type: 'string', placeholder: 'N', description: 'skip this many', field: 'offset' },
      },
      run: async ({ opts }, ctx) => ({ output: await (await store(ctx)).list({ email: opts.email, limit: opts.limit, offset: opts.offset }) }),
    }),
    command({
      path: [r.group, 'show'],
      summary: a.replace(/^a/, 'A'),
      args: [id],
      options: {},
      run: async ({ args: [recordId] }, ctx) => ({ output: await (await store(ctx)).get(recordId) }),
    }),
    command({
      path: [r.group, 'update'],
      summary: `Change ${a}: the options given, and nothing else`,
      args: [id],
      options: options(true),
      run: async ({ args: [recordId], opts }, ctx) => ({ output: await (await store(ctx)).update(recordId, input(opts, true)) }),
    }),
    command({
      path: [r.group, 'delete'],
      summary: `Delete ${a} (email activities that named it stay, the party unresolved)`,
      args: [id],
      options: {},
      run: async ({ args: [recordId] }, ctx) => {
        await (await store(ctx)).delete(recordId);
        return { output: { deleted: recordId } };
      },
    }),
  ];
}
