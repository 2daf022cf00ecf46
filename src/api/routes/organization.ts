import { z } from 'zod';
import { OrganizationSettingsPatch } from '../../admin/schemas';
import { errors } from '../responses';
import type { RouteContext } from './context';

const OrganizationSettingsResponse = z.object({
  requireEmailApproval: z.boolean().describe('Sync only mailboxes whose email address an admin approved'),
  maxAttachmentBytes: z.number().int().describe('Largest attachment whose content is kept (5 MB by default); larger ones are described only'),
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
