import { OrganizationSettingsPatch } from '../../admin/schemas';
import { command } from '../command';
import { yesNo } from '../input';

export const organizationCommands = [
  command({
    path: ['organization', 'show'],
    summary: "The organisation's sync settings",
    options: {},
    run: async (_, ctx) => ({ output: await (await ctx.admin()).getOrganizationSettings() }),
  }),
  command({
    path: ['organization', 'set'],
    summary: "Change the organisation's sync settings (what is not given stays)",
    details: ['Lifting the approval requirement starts the sync of the mailboxes that waited for approval at once.'],
    schema: OrganizationSettingsPatch,
    options: {
      'require-approval': {
        type: 'string',
        placeholder: 'yes|no',
        description: 'sync only mailboxes whose email address an admin approved (new organisations: yes)',
        field: 'requireEmailApproval',
      },
      'max-attachment-bytes': {
        type: 'string',
        placeholder: 'BYTES',
        description: 'largest attachment whose content is kept; larger ones are described only (new organisations: 5242880)',
        field: 'maxAttachmentBytes',
      },
    },
    run: async ({ opts }, ctx) => ({
      output: await (await ctx.admin()).updateOrganizationSettings({
        requireEmailApproval: yesNo(opts['require-approval']) as never,
        maxAttachmentBytes: opts['max-attachment-bytes'],
      }),
    }),
  }),
];
