import type { RouteContext } from './context';
import { ContactPatch, NewContact } from '../../admin/crmSchemas';
import type { CrmRecords } from '../../crm/crmRecords';
import { ContactResponse } from '../crmResponses';
import { registerRecordRoutes } from './records';

/** CRM contacts: the records sync resolves email addresses against. */
export function registerContactRoutes(ctx: RouteContext, crm: CrmRecords): void {
  registerRecordRoutes(ctx, {
    path: '/contacts',
    tag: 'contacts',
    noun: 'contact',
    store: crm.contacts,
    create: NewContact,
    patch: ContactPatch,
    response: ContactResponse,
  });
}
