import { z } from 'zod';
import { OrganizationSettingsPatch } from '../../admin/schemas';
import { DELETE_RULES } from '../../policy/itemMerge';
import { TRACKING_OPTIONS } from '../../policy/tracking';
import { errors } from '../responses';
import type { RouteContext } from './context';

const deleteRule = (what: string) =>
  z.string().describe(`${what}; delete: always deletes the other side's copy; unlink: always keeps it, unlinked. One of ${DELETE_RULES.join(' | ')}`);

const OrganizationSettingsResponse = z.object({
  requireEmailApproval: z.boolean().describe('Sync only mailboxes whose email address an admin approved'),
  maxAttachmentBytes: z.number().int().describe('Largest attachment whose content is kept (5 MB by default); larger ones are described only'),
  defaultTrackingOption: z.string().describe(`The tracking option of new users: ${TRACKING_OPTIONS.join(' | ')}`),
  trackingTokenEnabled: z.boolean().describe('Outgoing subjects carry a tracking token such as CRM:0001001'),
  trackingTokenPrefix: z.string(),
  trackingTokenBaseNumber: z.number().int(),
  trackingTokenUserDigits: z.number().int(),
  trackingTokenCounterDigits: z.number().int().describe('The counter wraps after the largest number of these digits (999 -> 000)'),
  smartMatching: z.boolean().describe('Correlate by normalised subject and two shared participants when headers and token say nothing'),
  correlateForwards: z.boolean().describe('Take a forward as a reply to what it forwards'),
  ownDomains: z.array(z.string()).describe("The organisation's own mail domains: their senders get no contact created"),
  itemsUnlinkOnly: z
    .boolean()
    .describe("A contact, appointment or task that stops matching a user's filters only loses its link; its Exchange copy stays (Dynamics' DistinctPhysicalAndLogicalDeletesForExchangeSync)"),
  itemsTrackingCategory: z.string().describe('The Outlook category that marks an Exchange item for tracking into the CRM'),
  itemsConflictRule: z.string().describe('later_wins | crm_wins: which value a field changed on both sides since the last sync takes'),
  itemsDeleteContactFromCrm: deleteRule("A contact deleted in the CRM: dynamics deletes the Exchange copy unless the syncing user owns the record (the owner keeps it, unlinked)"),
  itemsDeleteContactFromExchange: deleteRule('A contact deleted in Exchange: dynamics deletes the CRM record only when the syncing user owns it'),
  itemsDeleteAppointmentFromCrm: deleteRule('An appointment deleted in the CRM: dynamics deletes the Exchange copy only when the syncing user organises it, it is to come and not completed or cancelled'),
  itemsDeleteAppointmentFromExchange: deleteRule('An appointment deleted in Exchange: dynamics deletes the CRM record only when the syncing user organises it, it is to come and not completed or cancelled'),
  itemsDeleteTaskFromCrm: deleteRule('A task deleted in the CRM: dynamics deletes the Exchange copy unless it is completed there'),
  itemsDeleteTaskFromExchange: deleteRule("A task deleted in Exchange: dynamics deletes the CRM task (Dynamics' SSSTaskDeletionSyncBehaviorFromExchange)"),
  itemsCalendarDaysBack: z
    .number()
    .int()
    .describe('Appointments synced from this many days back (0-3650; 30 by default); a change starts a new read of the calendar at its next sync'),
  itemsCalendarDaysAhead: z.number().int().describe('Appointments synced up to this many days ahead (1-3650; 365 by default)'),
});

/** The organisation's sync settings. */
export function registerOrganizationRoutes(ctx: RouteContext): void {
  const { api, service } = ctx;

  api.get(
    '/organization',
    {
      schema: {
        tags: ['organization'],
        summary: "The organisation's sync settings",
        response: { 200: OrganizationSettingsResponse, ...errors(401, 403) },
      },
    },
    async () => service.getOrganizationSettings(),
  );

  api.patch(
    '/organization',
    {
      schema: {
        tags: ['organization'],
        summary: "Change the organisation's sync settings",
        description: 'Lifting `requireEmailApproval` starts the sync of mailboxes that waited for approval at once.',
        body: OrganizationSettingsPatch,
        response: { 200: OrganizationSettingsResponse, ...errors(400, 401, 403) },
      },
    },
    async (request) => service.updateOrganizationSettings(request.body),
  );
}
