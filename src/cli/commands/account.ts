import { NewAccount } from '../../admin/crmSchemas';
import { recordCommands } from './records';

export const accountCommands = recordCommands({
  group: 'account',
  plural: 'accounts',
  store: (crm) => crm.accounts,
  schema: NewAccount,
  fields: [
    { flag: 'name', field: 'name', placeholder: 'NAME', description: 'account name', required: true },
    { flag: 'email', field: 'email', placeholder: 'ADDRESS', description: 'email address (sync links messages to it)' },
  ],
});
