import { NewLead } from '../../admin/crmSchemas';
import { recordCommands } from './records';

export const leadCommands = recordCommands({
  group: 'lead',
  plural: 'leads',
  store: (crm) => crm.leads,
  schema: NewLead,
  fields: [
    { flag: 'name', field: 'fullName', placeholder: 'NAME', description: 'full name', required: true },
    { flag: 'email', field: 'email', placeholder: 'ADDRESS', description: 'email address (sync links messages to it)' },
    { flag: 'company', field: 'company', placeholder: 'NAME', description: 'company' },
  ],
});
