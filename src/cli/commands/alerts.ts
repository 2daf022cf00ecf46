import { AlertQuery } from '../../admin/schemas';
import { command } from '../command';

export const alertCommands = [
  command({
    path: ['alerts', 'list'],
    aliases: [['alerts']],
    summary: 'Alerts, newest first',
    schema: AlertQuery,
    options: {
      status: { type: 'string', placeholder: 'open|resolved|all', description: 'open ones (the default), resolved ones, or all', field: 'status' },
      mailbox: { type: 'string', placeholder: 'MAILBOX_ID', description: "only this mailbox's", field: 'mailboxId' },
      profile: { type: 'string', placeholder: 'PROFILE_ID', description: "only this profile's", field: 'profileId' },
      level: { type: 'string', placeholder: 'error|warning|information', description: 'only this level', field: 'level' },
      limit: { type: 'string', placeholder: 'N', description: 'at most this many', field: 'limit' },
    },
    run: async ({ opts: o }, ctx) => ({
      output: await (await ctx.admin()).listAlerts({ status: o.status as never, mailboxId: o.mailbox, profileId: o.profile, level: o.level as never, limit: o.limit }),
    }),
  }),
];
