import { NewUser, UserOptions } from '../../admin/schemas';
import { TRACKING_OPTIONS } from '../../policy/tracking';
import { command } from '../command';
import { yesNo } from '../input';

const tracking = {
  type: 'string',
  placeholder: TRACKING_OPTIONS.join('|'),
  description: "which incoming messages become CRM email activities (new users: the organisation's default)",
  field: 'trackingOption',
} as const;
const createContacts = {
  type: 'string',
  placeholder: 'yes|no',
  description: "create a contact for a tracked message's sender who is in the CRM under no record (new users: no)",
  field: 'createContactsForUnknownSenders',
} as const;

export const userCommands = [
  command({
    path: ['user', 'create'],
    summary: 'Create a CRM user',
    schema: NewUser,
    options: {
      name: { type: 'string', placeholder: 'NAME', description: 'full name', field: 'fullName', required: true },
      email: { type: 'string', placeholder: 'ADDRESS', description: 'email address', field: 'email', required: true },
      tracking,
      'create-contacts': createContacts,
    },
    run: async ({ opts }, ctx) => ({
      output: await (await ctx.admin()).createUser({
        fullName: opts.name!,
        email: opts.email!,
        trackingOption: opts.tracking as never,
        createContactsForUnknownSenders: yesNo(opts['create-contacts']) as never,
      }),
    }),
  }),
  command({
    path: ['user', 'update'],
    summary: "Change a CRM user's sync options (what is not given stays)",
    args: [{ name: 'USER_ID', description: 'the user', uuid: true }],
    schema: UserOptions,
    options: { tracking, 'create-contacts': createContacts },
    run: async ({ args: [id], opts }, ctx) => ({
      output: await (await ctx.admin()).updateUserOptions(id, {
        trackingOption: opts.tracking as never,
        createContactsForUnknownSenders: yesNo(opts['create-contacts']) as never,
      }),
    }),
  }),
  command({
    path: ['user', 'list'],
    summary: 'List CRM users',
    options: {},
    run: async (_, ctx) => ({ output: await (await ctx.admin()).listUsers() }),
  }),
];
