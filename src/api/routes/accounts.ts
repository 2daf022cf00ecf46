import type { RouteContext } from './context';
import { AccountPatch, NewAccount } from '../../admin/crmSchemas';
import type { CrmRecords } from '../../crm/crmRecords';
import { AccountResponse } from '../crmResponses';
import { registerRecordRoutes } from './records';

/** CRM accounts: the records sync resolves email addresses against. */
export function registerAccountRoutes(ctx: RouteContext, crm: CrmRecords): void {
  registerRecordRoutes(ctx, {
    path: '/accounts',
    tag: 'accounts',
    noun: 'account',
    store: crm.accounts,
    create: NewAccount,
    patch: AccountPatch,
    response: AccountResponse,
  });
}
