import { NewApiToken } from '../../admin/apiTokens';
import { command } from '../command';

const WHAT_IT_MAY_DO = {
  admin: 'An admin token: every route of the API.',
  user: "A user token: only that user's mailbox (read, sync, Test & Enable, change its password, its email activities), their alerts and options.",
};

export const tokenCommands = [
  command({
    path: ['token', 'create'],
    summary: 'Create an API token, printed once (only its hash is stored)',
    details: [`${WHAT_IT_MAY_DO.admin}\n${WHAT_IT_MAY_DO.user}`],
    options: {
      role: { type: 'string', placeholder: 'admin|user', description: 'what the token may do', field: 'role', required: true },
      user: { type: 'string', placeholder: 'USER_ID', description: 'the user a user token acts for (required for --role user)', field: 'userId' },
      label: { type: 'string', placeholder: 'TEXT', description: 'a note on where it is used', field: 'label' },
    },
    run: async ({ opts }, ctx) => {
      // Checked here, so that a mistake names the flag (--user) rather than the field.
      const input = NewApiToken.parse({ role: opts.role, userId: opts.user, label: opts.label });
      const created = await (await ctx.tokens()).create(input);
      return { output: { ...created, role: input.role, userId: input.userId ?? null, mayDo: WHAT_IT_MAY_DO[input.role] } };
    },
  }),
];
