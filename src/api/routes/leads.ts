import type { RouteContext } from './context';
import { LeadPatch, NewLead } from '../../admin/crmSchemas';
import type { CrmRecords } from '../../crm/crmRecords';
import { LeadResponse } from '../crmResponses';
import { registerRecordRoutes } from './records';

/** CRM leads: the records sync resolves email addresses against. */
export function registerLeadRoutes(ctx: RouteContext, crm: CrmRecords): void {
  registerRecordRoutes(ctx, {
    path: '/leads',
    tag: 'leads',
    noun: 'lead',
    store: crm.leads,
    create: NewLead,
    patch: LeadPatch,
    response: LeadResponse,
  });
}
