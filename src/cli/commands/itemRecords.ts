import type { z } from 'zod';
import type { ItemStore } from '../../crm/crmItems';
import type { ItemField } from '../../crm/itemFields';
import { command, type Command, type OptionSpec } from '../command';
import type { CliContext } from '../context';
import { fieldInput, fieldOptions } from './itemOptions';

/**
 * create, list, show, update and delete for appointments and tasks: their plain fields as flags
 * (from src/crm/itemFields.ts), plus `extra` options each command turns into input.
 */
export function itemCommands(r: {
  group: string;
  plural: string;
  store: (ctx: CliContext) => Promise<ItemStore<unknown, z.ZodType, z.ZodType, z.ZodType>>;
  schema: z.ZodObject;
  fields: Record<string, ItemField>;
  renamed: Record<string, string>;
  extra: (forUpdate: boolean) => Record<string, OptionSpec>;
  extraInput: (opts: Record<string, unknown>, forUpdate: boolean) => Record<string, unknown>;
  listOptions: Record<string, OptionSpec>;
  listQuery: (opts: Record<string, unknown>) => Record<string, unknown>;
}): Command[] {
  const a = /^[aeiou]/.test(r.group) ? `an ${r.group}` : `a ${r.group}`;
  const id = { name: 'ID', description: `the ${r.group}`, uuid: true };
  // Options not given are left out (a strict schema refuses even an undefined key it does not know).
  const input = (opts: Record<string, unknown>, forUpdate: boolean) =>
    Object.fromEntries(
      Object.entries({ ...fieldInput(r.fields, r.renamed, opts, forUpdate), ...r.extraInput(opts, forUpdate) }).filter(([, v]) => v !== undefined),
    );
  return [
    command({
      path: [r.group, 'create'],
      summary: `Create ${a}`,
      schema: r.schema,
      options: { ...fieldOptions(r.fields, r.renamed, false), ...r.extra(false) },
      run: async ({ opts }, ctx) => ({ output: await (await r.store(ctx)).create(input(opts, false)) }),
    }),
    command({
      path: [r.group, 'list'],
      summary: `List ${r.plural}`,
      options: r.listOptions,
      run: async ({ opts }, ctx) => ({ output: await (await r.store(ctx)).list(r.listQuery(opts)) }),
    }),
    command({
      path: [r.group, 'show'],
      summary: a.replace(/^a/, 'A'),
      args: [id],
      options: {},
      run: async ({ args: [recordId] }, ctx) => ({ output: await (await r.store(ctx)).get(recordId) }),
    }),
    command({
      path: [r.group, 'update'],
      summary: `Change ${a}: the options given, and nothing else`,
      args: [id],
      options: { ...fieldOptions(r.fields, r.renamed, true), ...r.extra(true) },
      run: async ({ args: [recordId], opts }, ctx) => ({ output: await (await r.store(ctx)).update(recordId, input(opts, true)) }),
    }),
    command({
      path: [r.group, 'delete'],
      summary: `Delete ${a}`,
      args: [id],
      options: {},
      run: async ({ args: [recordId] }, ctx) => {
        await (await r.store(ctx)).delete(recordId);
        return { output: { deleted: recordId } };
      },
    }),
  ];
}

export const pageOptions: Record<string, OptionSpec> = {
  limit: { type: 'string', placeholder: 'N', description: 'at most this many', field: 'limit' },
  offset: { type: 'string', placeholder: 'N', description: 'skip this many', field: 'offset' },
};
