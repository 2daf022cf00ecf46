import { z } from 'zod';
import { MailboxPatch, MapRequest, NewMailbox } from '../../admin/schemas';
import { CLI, command } from '../command';
import { PASSWORD_STDIN, givenPassword, list, readPassword, yesNo } from '../input';
import { watchProgress } from '../progress';

const MAILBOX_ID = { name: 'MAILBOX_ID', description: 'the mailbox', uuid: true };

/** What to run after a password change: the sync tries it from its next cycle; a disabled mailbox needs a test. */
export const nextAfterPasswordChange = (mailboxId: string) =>
  `Run \`${CLI} mailbox test-and-enable ${mailboxId}\` to test the new password and re-enable sync ` +
  `(a wrong password disables the mailbox); an enabled mailbox uses it from its next sync.`;

const DELETE_AFTER_PROCESSING = {
  type: 'string',
  placeholder: 'yes|no',
  description: 'delete each message from the server once the CRM stored it (queue mailboxes; POP3 profiles only)',
  field: 'deleteAfterProcessing',
} as const;

const GRAPH_USER = {
  type: 'string',
  placeholder: 'OBJECT_ID',
  description: "exchange_online: the tenant user's object id (default: the email address)",
  field: 'graphUser',
} as const;

const TRACKING_FLAGS = {
  token: { type: 'string', placeholder: 'organization|custom|off', description: "the organisation's tracking token, the mailbox's own prefix, or none", field: 'trackingTokenMode' },
  'token-prefix': { type: 'string', placeholder: 'PREFIX', description: "the mailbox's own token prefix (with --token custom)", field: 'trackingTokenPrefix' },
  'sent-folder': { type: 'string', placeholder: 'FOLDER', description: 'the folder sent mail is kept in (default: the one the server marks \\Sent, else "Sent")', field: 'sentFolder' },
  'track-sent': { type: 'string', placeholder: 'yes|no', description: 'sync the Sent folder too: mail sent from another client is stored as sent', field: 'trackSentFolder' },
} as const;

/** The mailbox fields the tracking flags fill. */
const trackingFields = (o: { token?: string; 'token-prefix'?: string; 'sent-folder'?: string; 'track-sent'?: string }) => ({
  trackingTokenMode: o.token as never,
  trackingTokenPrefix: o['token-prefix'],
  sentFolder: o['sent-folder'],
  trackSentFolder: yesNo(o['track-sent']) as never,
});

const simple = (action: 'approve' | 'enable', summary: string) =>
  command({
    path: ['mailbox', action],
    summary,
    args: [MAILBOX_ID],
    options: {},
    run: async ({ args: [id] }, ctx) => {
      const admin = await ctx.admin();
      return { output: action === 'approve' ? await admin.approveMailbox(id) : await admin.enableMailbox(id) };
    },
  });

export const mailboxCommands = [
  command({
    path: ['mailbox', 'create'],
    summary: 'Create a mailbox; when enabled its sync starts at once',
    details: [
      'The password comes from MAILBOX_PASSWORD, or from stdin with --password-stdin.',
      "A mailbox on an exchange_online profile has no password: it is a user of the profile's tenant (--graph-user, else its email address).",
    ],
    schema: NewMailbox,
    options: {
      email: { type: 'string', placeholder: 'ADDRESS', description: "the mailbox's email address", field: 'emailAddress', required: true },
      profile: { type: 'string', placeholder: 'PROFILE_ID', description: 'the email server profile it syncs through', field: 'profileId', required: true },
      user: { type: 'string', placeholder: 'USER_ID', description: 'the CRM user it belongs to', field: 'ownerUserId' },
      queue: { type: 'string', placeholder: 'QUEUE_ID', description: "the CRM queue it belongs to instead (the mailbox carries the queue's address)", field: 'ownerQueueId' },
      username: { type: 'string', placeholder: 'NAME', description: 'login name on the mail server (default: the email address)', field: 'username' },
      'graph-user': GRAPH_USER,
      folders: { type: 'string', placeholder: 'LIST', description: 'folders to sync, comma-separated', field: 'folders' },
      approve: { type: 'boolean', description: 'approve its email address at once', field: 'emailApproved', default: 'not approved' },
      disabled: { type: 'boolean', description: 'create it with incoming sync off', field: 'incomingEnabled', default: 'enabled' },
      'min-poll-seconds': { type: 'string', placeholder: 'SECONDS', description: "shortest interval between two syncs (default: the profile's)", field: 'minPollingIntervalSeconds' },
      'delete-after-processing': { ...DELETE_AFTER_PROCESSING, default: 'no' },
      ...TRACKING_FLAGS,
      'password-stdin': PASSWORD_STDIN,
    },
    run: async ({ opts: o }, ctx) => {
      const admin = await ctx.admin();
      // A tenant user signs in through the profile's app; a password given anyway goes on, for the service to refuse saying why.
      // (A profile id that is no UUID is left for the schema to refuse, naming --profile.)
      const exchange = z.uuid().safeParse(o.profile).success && (await admin.getProfile(o.profile!)).serverType === 'exchange_online';
      return {
        output: await admin.createMailbox({
          emailAddress: o.email!,
          profileId: o.profile!,
          ownerUserId: o.user,
          ownerQueueId: o.queue,
          username: o.username,
          password: exchange ? givenPassword(o['password-stdin']) : readPassword(o['password-stdin']),
          graphUser: o['graph-user'],
          folders: list(o.folders),
          incomingEnabled: !o.disabled,
          emailApproved: o.approve ?? false,
          minPollingIntervalSeconds: o['min-poll-seconds'],
          deleteAfterProcessing: yesNo(o['delete-after-processing']) as never,
          ...trackingFields(o),
        }),
      };
    },
  }),
  command({
    path: ['mailbox', 'set'],
    summary: "Change the mailbox's folders, Graph user, polling interval, deletion after processing, tracking token or Sent-folder tracking (what is not given stays)",
    args: [MAILBOX_ID],
    schema: MailboxPatch,
    options: {
      folders: {
        type: 'string',
        placeholder: 'LIST',
        description: 'folders to sync, comma-separated (POP3: INBOX only; Exchange: folder names or well-known names such as inbox, sentitems)',
        field: 'folders',
      },
      'graph-user': GRAPH_USER,
      'min-poll-seconds': { type: 'string', placeholder: 'SECONDS', description: 'shortest interval between two syncs', field: 'minPollingIntervalSeconds' },
      'delete-after-processing': DELETE_AFTER_PROCESSING,
      ...TRACKING_FLAGS,
    },
    run: async ({ args: [id], opts: o }, ctx) => ({
      output: await (await ctx.admin()).updateMailbox(id, {
        folders: list(o.folders),
        graphUser: o['graph-user'],
        minPollingIntervalSeconds: o['min-poll-seconds'] as never,
        deleteAfterProcessing: yesNo(o['delete-after-processing']) as never,
        ...trackingFields(o),
      }),
    }),
  }),
  command({
    path: ['mailbox', 'list'],
    summary: 'List mailboxes',
    options: {
      user: { type: 'string', placeholder: 'USER_ID', description: "only this user's mailbox", field: 'ownerUserId' },
      queue: { type: 'string', placeholder: 'QUEUE_ID', description: "only this queue's mailbox", field: 'ownerQueueId' },
    },
    run: async ({ opts }, ctx) => ({ output: await (await ctx.admin()).listMailboxes({ ownerUserId: opts.user, ownerQueueId: opts.queue }) }),
  }),
  command({
    path: ['mailbox', 'delete'],
    summary: 'Delete a mailbox; its sync stops (its CRM email activities stay)',
    args: [MAILBOX_ID],
    options: {},
    run: async ({ args: [id] }, ctx) => {
      await (await ctx.admin()).deleteMailbox(id);
      return { output: { deleted: id } };
    },
  }),
  command({
    path: ['mailbox', 'map'],
    summary: 'Map the mailbox to a user or a queue',
    args: [MAILBOX_ID],
    options: {
      user: { type: 'string', placeholder: 'USER_ID', description: 'the user to map it to', field: 'userId' },
      queue: { type: 'string', placeholder: 'QUEUE_ID', description: "the queue to map it to instead (a mailbox for the queue's address)", field: 'queueId' },
      confirm: { type: 'boolean', description: 'break the old mapping: take it from whoever holds it, and from the new owner its other mailbox', field: 'confirm' },
    },
    schema: MapRequest,
    run: async ({ args: [id], opts }, ctx) => ({
      output: await (await ctx.admin()).mapMailbox(id, { userId: opts.user, queueId: opts.queue, confirm: opts.confirm ?? false }),
    }),
  }),
  simple('approve', "Approve the mailbox's email address"),
  command({
    path: ['mailbox', 'test-and-enable'],
    summary: 'Test each direction against the mail server and enable those that pass',
    details: ['Exits with 1 when a direction fails its test (the output says why).'],
    args: [MAILBOX_ID],
    options: {},
    run: async ({ args: [id] }, ctx) => {
      const result = await (await ctx.admin()).testAndEnable(id);
      return { output: result, failed: [result.incoming, result.outgoing, result.items].some((d) => d.status === 'failure') };
    },
  }),
  simple('enable', 'Turn incoming sync back on without testing'),
  command({
    path: ['mailbox', 'disable'],
    summary: 'Stop incoming sync (returns once the workflow has stopped)',
    args: [MAILBOX_ID],
    options: {},
    run: async ({ args: [id] }, ctx) => ({ output: await (await ctx.admin()).disableMailbox(id) }),
  }),
  command({
    path: ['mailbox', 'sync-now'],
    summary: "Sync now (starting the mailbox's workflow if needed)",
    args: [MAILBOX_ID],
    options: {},
    run: async ({ args: [id] }, ctx) => {
      await (await ctx.admin()).syncNow(id);
      return { output: { syncRequested: id } };
    },
  }),
  command({
    path: ['mailbox', 'password'],
    summary: 'Set a new password for the mailbox (from MAILBOX_PASSWORD, or stdin with --password-stdin)',
    details: [`Then run \`${CLI} mailbox test-and-enable MAILBOX_ID\` to test it and re-enable sync.`],
    args: [MAILBOX_ID],
    options: { 'password-stdin': PASSWORD_STDIN },
    run: async ({ args: [id], opts }, ctx) => {
      await (await ctx.admin()).updateMailbox(id, { password: readPassword(opts['password-stdin']) });
      return { output: { passwordChanged: id, next: nextAfterPasswordChange(id) } };
    },
  }),
  command({
    path: ['mailbox', 'status'],
    summary: "The mailbox, its statistics (statistics.itemSync: contacts', appointments' and tasks' linked, pending, failed, last error) and its workflow's live status",
    details: ['Failed items: `mailbox item-errors MAILBOX_ID`; retry one with `mailbox item-retry`.'],
    args: [MAILBOX_ID],
    options: { watch: { type: 'boolean', description: "first show a running sync's progress bar, until the cycle ends" } },
    run: async ({ args: [id], opts }, ctx) => {
      const admin = await ctx.admin();
      if (opts.watch) await watchProgress(admin, id);
      const mailbox = await admin.getMailbox(id);
      const itemSync = await admin.itemSync.status(id);
      return { output: { mailbox: { ...mailbox, statistics: { ...mailbox.statistics, itemSync } }, workflow: await admin.liveStatus(id) } };
    },
  }),
];
