import type { RouteContext } from './context';
import { NewQueue, QueuePatch } from '../../admin/crmSchemas';
import type { CrmRecords } from '../../crm/crmRecords';
import { QueueResponse } from '../crmResponses';
import { registerRecordRoutes } from './records';

/** CRM queues: shared addresses whose mailbox's incoming mail becomes queue items. */
export function registerQueueRoutes(ctx: RouteContext, crm: CrmRecords): void {
  registerRecordRoutes(ctx, {
    path: '/queues',
    tag: 'queues',
    noun: 'queue',
    store: crm.queues,
    create: NewQueue,
    patch: QueuePatch,
    response: QueueResponse,
  });
}
