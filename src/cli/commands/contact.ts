import { NewContact } from '../../admin/crmSchemas';
import { recordCommands } from './records';

export const contactCommands = recordCommands({
  group: 'contact',
  plural: 'contacts',
  store: (crm) => crm.contacts,
  schema: NewContact,
  fields: [
    { flag: 'name', field: 'fullName', placeholder: 'NAME', description: 'full name', required: true },
    { flag: 'email', field: 'email', placeholder: 'ADDRESS', description: 'email address (sync links messages to it)' },
    { flag: 'account', field: 'accountId', placeholder: 'ACCOUNT_ID', description: 'the account it belongs to' },
  ],
});
