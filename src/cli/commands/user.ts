import { NewUser } from '../../admin/schemas';
import { TRACKING_OPTIONS } from '../../policy/tracking';
import { command } from '../command';

export const userCommands = [
  command({
    path: ['user', 'create'],
    summary: 'Create a CRM user',
    schema: NewUser,
    options: {
      name: { type: 'string', placeholder: 'NAME', description: 'full name', field: 'fullName', required: true },
      email: { type: 'string', placeholder: 'ADDRESS', description: 'email address', field: 'email', required: true },
      tracking: {
        type: 'string',
        placeholder: TRACKING_OPTIONS.join('|'),
        description: 'which incoming messages become CRM email activities',
        field: 'trackingOption',
      },
    },
    run: async ({ opts }, ctx) => ({
      output: await (await ctx.admin()).createUser({ fullName: opts.name!, email: opts.email!, trackingOption: opts.tracking as never }),
    }),
  }),
  command({
    path: ['user', 'list'],
    summary: 'List CRM users',
    options: {},
    run: async (_, ctx) => ({ output: await (await ctx.admin()).listUsers() }),
  }),
];
