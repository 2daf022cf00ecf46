import { AppointmentPatch, AppointmentQuery, NewAppointment } from '../../admin/itemSchemas';
import type { CrmItems } from '../../crm/crmItems';
import { AppointmentResponse } from '../itemResponses';
import type { RouteContext } from './context';
import { registerItemRoutes } from './itemRecords';

/** CRM appointments: series with their exceptions, attendees resolved to CRM records. */
export function registerAppointmentRoutes(ctx: RouteContext, items: CrmItems): void {
  registerItemRoutes(ctx, {
    path: '/appointments',
    tag: 'appointments',
    noun: 'appointment',
    store: items.appointments,
    create: NewAppointment,
    patch: AppointmentPatch,
    query: AppointmentQuery,
    response: AppointmentResponse,
    order: 'by start (series, not their exceptions: a series lists its own)',
  });
}
