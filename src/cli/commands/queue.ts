import { NewQueue } from '../../admin/crmSchemas';
import { TRACKING_OPTIONS } from '../../policy/tracking';
import { recordCommands } from './records';

export const queueCommands = recordCommands({
  group: 'queue',
  plural: 'queues',
  store: (crm) => crm.queues,
  schema: NewQueue,
  fields: [
    { flag: 'name', field: 'name', placeholder: 'NAME', description: 'queue name', required: true },
    { flag: 'email', field: 'email', placeholder: 'ADDRESS', description: "the queue's address (its mailbox carries it)", required: true },
    {
      flag: 'tracking-option',
      field: 'trackingOption',
      placeholder: TRACKING_OPTIONS.join('|'),
      description: "which of its mailbox's incoming messages become email activities (default: all)",
      alwaysSet: true,
    },
  ],
});
