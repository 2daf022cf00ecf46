import { NewTask, TaskPatch, TaskQuery } from '../../admin/itemSchemas';
import type { CrmItems } from '../../crm/crmItems';
import { TaskResponse } from '../itemResponses';
import type { RouteContext } from './context';
import { registerItemRoutes } from './itemRecords';

/** CRM tasks. */
export function registerTaskRoutes(ctx: RouteContext, items: CrmItems): void {
  registerItemRoutes(ctx, {
    path: '/tasks',
    tag: 'tasks',
    noun: 'task',
    store: items.tasks,
    create: NewTask.strict(),
    patch: TaskPatch,
    query: TaskQuery,
    response: TaskResponse,
    order: 'oldest first',
  });
}
