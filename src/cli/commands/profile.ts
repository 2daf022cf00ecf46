import { NewProfile } from '../../admin/schemas';
import { command } from '../command';
import { yesNo } from '../input';

const PROFILE_ID = { name: 'PROFILE_ID', description: 'the profile', uuid: true };

export const profileCommands = [
  command({
    path: ['profile', 'create'],
    summary: 'Create an email server profile',
    schema: NewProfile,
    options: {
      name: { type: 'string', placeholder: 'NAME', description: 'a name for the profile (unique)', field: 'name', required: true },
      type: { type: 'string', placeholder: 'imap', description: 'server type', field: 'serverType', required: true },
      host: { type: 'string', placeholder: 'HOST', description: 'incoming mail server host (needed for imap)', field: 'incomingHost' },
      port: { type: 'string', placeholder: 'PORT', description: 'incoming mail server port (default: from --security, IMAP 993 for tls, else 143)', field: 'incomingPort' },
      security: { type: 'string', placeholder: 'none|starttls|tls', description: 'connection security', field: 'incomingSecurity' },
      'smtp-host': { type: 'string', placeholder: 'HOST', description: 'outgoing (SMTP) server host, for sending from the CRM', field: 'outgoingHost' },
      'smtp-port': { type: 'string', placeholder: 'PORT', description: 'outgoing server port (default: from --smtp-security: 465 tls, 587 starttls, 25 none)', field: 'outgoingPort' },
      'smtp-security': { type: 'string', placeholder: 'none|starttls|tls', description: 'outgoing connection security (default starttls)', field: 'outgoingSecurity' },
      'save-sent-copy': { type: 'string', placeholder: 'yes|no', description: "copy each email sent from the CRM to the mailbox's Sent folder (default yes)", field: 'saveSentCopy' },
      'max-connections': {
        type: 'string',
        placeholder: 'N',
        description: 'most connections to the server at once, over all its mailboxes',
        field: 'maxConcurrentConnections',
      },
      'min-poll-seconds': { type: 'string', placeholder: 'SECONDS', description: 'shortest interval between two syncs of a mailbox', field: 'minPollingIntervalSeconds' },
      'process-from': { type: 'string', placeholder: 'DATE', description: 'ignore messages older than this (ISO 8601 date)', field: 'processEmailFrom' },
      'timeout-seconds': { type: 'string', placeholder: 'SECONDS', description: 'connection timeout', field: 'connectionTimeoutSeconds' },
      owner: { type: 'string', placeholder: 'USER_ID', description: 'the user who gets its alerts (besides admins)', field: 'ownerUserId' },
    },
    run: async ({ opts: o }, ctx) => ({
      output: await (await ctx.admin()).createProfile({
        name: o.name!,
        serverType: o.type as never,
        incomingHost: o.host,
        incomingPort: o.port,
        incomingSecurity: o.security as never,
        outgoingHost: o['smtp-host'],
        outgoingPort: o['smtp-port'],
        outgoingSecurity: o['smtp-security'] as never,
        saveSentCopy: yesNo(o['save-sent-copy']) as never,
        maxConcurrentConnections: o['max-connections'],
        minPollingIntervalSeconds: o['min-poll-seconds'],
        processEmailFrom: o['process-from'],
        connectionTimeoutSeconds: o['timeout-seconds'],
        ownerUserId: o.owner,
      }),
    }),
  }),
  command({
    path: ['profile', 'list'],
    summary: 'List email server profiles',
    options: {},
    run: async (_, ctx) => ({ output: await (await ctx.admin()).listProfiles() }),
  }),
  command({
    path: ['profile', 'delete'],
    summary: 'Delete a profile that no mailbox uses',
    args: [PROFILE_ID],
    options: {},
    run: async ({ args: [id] }, ctx) => {
      await (await ctx.admin()).deleteProfile(id);
      return { output: { deleted: id } };
    },
  }),
];
