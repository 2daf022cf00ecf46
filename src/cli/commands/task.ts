import { NewTask } from '../../admin/itemSchemas';
import { TASK_FIELDS } from '../../crm/itemFields';
import { itemCommands, pageOptions } from './itemRecords';

const RENAMED: Record<string, string> = { startsAt: 'start', dueAt: 'due', completedAt: 'completed', ownerUserId: 'owner', percentComplete: 'percent' };

export const taskCommands = itemCommands({
  group: 'task',
  plural: 'tasks, oldest first',
  store: async (ctx) => (await ctx.items()).records.tasks,
  schema: NewTask,
  fields: TASK_FIELDS,
  renamed: RENAMED,
  extra: () => ({}),
  extraInput: () => ({}),
  listOptions: {
    owner: { type: 'string', placeholder: 'USER_ID', description: 'only those this user owns', field: 'ownerUserId' },
    status: { type: 'string', placeholder: 'open|completed|canceled', description: 'only those with this status', field: 'status' },
    ...pageOptions,
  },
  listQuery: (o) => ({ ownerUserId: o.owner, status: o.status, limit: o.limit, offset: o.offset }),
});
