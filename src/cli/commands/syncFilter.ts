import { FilterPreviewRequest, NewSyncFilter } from '../../admin/itemSchemas';
import { ITEM_ENTITIES } from '../../crm/itemFields';
import { FILTER_OPERATORS } from '../../policy/syncFilters';
import { command, UsageError } from '../command';

const RULES_HELP = [
  'Rules are JSON: {"match": "all"|"any", "conditions": [{"field": F, "op": OP, "value": V}, ...]}, groups nesting.',
  `Operators: ${FILTER_OPERATORS.join(', ')}. A user field takes {"currentUser": true}; appointments also have organizer`,
  'and attendee (users); relative-date takes {"from": DAYS, "to": DAYS} from now. Bad rules name each problem.',
  `Example: '{"match":"all","conditions":[{"field":"ownerUserId","op":"eq","value":{"currentUser":true}},{"field":"state","op":"eq","value":"active"}]}'`,
];

function rules(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    throw new UsageError('--rules: not JSON; see `help filter create` for the shape');
  }
}

const id = [{ name: 'FILTER_ID', description: 'the sync filter', uuid: true }];
const RULES = { type: 'string', placeholder: 'JSON', description: 'the conditions (see below)', field: 'rules' } as const;
const ENTITY = { type: 'string', placeholder: ITEM_ENTITIES.join('|'), description: 'the records it chooses', field: 'entity' } as const;
const LIMIT = { type: 'string', placeholder: 'N', description: 'how many matching records to show (the count is of all)', field: 'limit' } as const;
const limit = (v: string | undefined) => (v === undefined ? undefined : /^\d+$/.test(v) ? Number(v) : v);

export const syncFilterCommands = [
  command({
    path: ['filter', 'list'],
    summary: "Users' sync filters: which contacts, appointments and tasks go to their mailboxes",
    options: {
      user: { type: 'string', placeholder: 'USER_ID', description: "only this user's", field: 'userId' },
      entity: { ...ENTITY, description: 'only those of this entity' },
    },
    run: async ({ opts }, ctx) => ({ output: await (await ctx.items()).filters.list({ userId: opts.user, entity: opts.entity as never }) }),
  }),
  command({
    path: ['filter', 'create'],
    summary: "Create a user's sync filter (several for one entity are a union)",
    details: RULES_HELP,
    schema: NewSyncFilter,
    options: {
      user: { type: 'string', placeholder: 'USER_ID', description: 'whose filter it is', field: 'userId', required: true },
      entity: { ...ENTITY, required: true },
      name: { type: 'string', placeholder: 'NAME', description: 'what it is called', field: 'name', required: true },
      rules: { ...RULES, required: true },
      disabled: { type: 'boolean', description: 'create it disabled' },
    },
    run: async ({ opts }, ctx) => ({
      output: await (await ctx.items()).filters.create(opts.user!, {
        entity: opts.entity as never,
        name: opts.name!,
        enabled: !opts.disabled,
        rules: rules(opts.rules) as never,
      }),
    }),
  }),
  command({
    path: ['filter', 'update'],
    summary: "Rename a sync filter or change its rules (what is not given stays)",
    details: RULES_HELP,
    args: id,
    options: { name: { type: 'string', placeholder: 'NAME', description: 'what it is called', field: 'name' }, rules: RULES },
    run: async ({ args: [filterId], opts }, ctx) => ({
      output: await (await ctx.items()).filters.update(filterId, { name: opts.name, rules: rules(opts.rules) as never }),
    }),
  }),
  command({
    path: ['filter', 'enable'],
    summary: 'Enable a sync filter',
    args: id,
    options: {},
    run: async ({ args: [filterId] }, ctx) => ({ output: await (await ctx.items()).filters.update(filterId, { enabled: true }) }),
  }),
  command({
    path: ['filter', 'disable'],
    summary: 'Disable a sync filter (with none enabled for an entity, the entity does not sync for the user)',
    args: id,
    options: {},
    run: async ({ args: [filterId] }, ctx) => ({ output: await (await ctx.items()).filters.update(filterId, { enabled: false }) }),
  }),
  command({
    path: ['filter', 'delete'],
    summary: 'Delete a sync filter',
    args: id,
    options: {},
    run: async ({ args: [filterId] }, ctx) => {
      await (await ctx.items()).filters.delete(filterId);
      return { output: { deleted: filterId } };
    },
  }),
  command({
    path: ['filter', 'preview'],
    summary: 'What a saved filter matches now, with a count',
    args: id,
    options: { limit: LIMIT },
    run: async ({ args: [filterId], opts }, ctx) => ({ output: await (await ctx.items()).filters.preview(filterId, (limit(opts.limit) as number) ?? 20) }),
  }),
  command({
    path: ['filter', 'try'],
    summary: 'What unsaved rules would match now for a user, with a count: try a filter before saving it',
    details: RULES_HELP,
    schema: FilterPreviewRequest,
    options: {
      user: { type: 'string', placeholder: 'USER_ID', description: 'whose "currentUser" the rules mean', field: 'userId', required: true },
      entity: { ...ENTITY, required: true },
      rules: { ...RULES, required: true },
      limit: LIMIT,
    },
    run: async ({ opts }, ctx) => ({
      output: await (await ctx.items()).filters.previewRules(opts.user!, {
        entity: opts.entity as never,
        rules: rules(opts.rules) as never,
        limit: limit(opts.limit) as never,
      }),
    }),
  }),
];
