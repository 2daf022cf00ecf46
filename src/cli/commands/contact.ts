import { NewContact } from '../../admin/crmSchemas';
import { CONTACT_FIELDS } from '../../crm/itemFields';
import { recordCommands } from './records';
import { flagOf } from './itemOptions';

// The flags of old (name, account) stay; the other fields of Dynamics' contact take their own names.
const RENAMED: Record<string, string> = { fullName: 'name', accountId: 'account', ownerUserId: 'owner' };

export const contactCommands = recordCommands({
  group: 'contact',
  plural: 'contacts',
  store: (crm) => crm.contacts,
  schema: NewContact,
  fields: Object.entries(CONTACT_FIELDS)
    .filter(([, f]) => !f.readOnly)
    .map(([field, f]) => ({
      flag: RENAMED[field] ?? flagOf(field),
      field,
      placeholder: f.type === 'enum' ? f.values!.join('|') : f.type === 'date' ? 'YYYY-MM-DD' : f.type === 'user' || f.type === 'uuid' ? 'ID' : f.type === 'email' ? 'ADDRESS' : 'TEXT',
      description: f.description ?? field.replace(/[A-Z]/g, (m) => ` ${m.toLowerCase()}`),
      required: f.required,
      alwaysSet: f.notNull && !f.required,
    })),
});
