import { NewProfile, ProfilePatch } from '../../admin/schemas';
import { command, type OptionSpec } from '../command';
import { readFileOption, readSecretFromStdin, yesNo } from '../input';

const PROFILE_ID = { name: 'PROFILE_ID', description: 'the profile', uuid: true };

/** The settings `profile create` and `profile set` share. */
const SETTINGS = {
  name: { type: 'string', placeholder: 'NAME', description: 'a name for the profile (unique)', field: 'name' },
  type: { type: 'string', placeholder: 'imap|pop3|exchange_online', description: 'server type', field: 'serverType' },
  host: { type: 'string', placeholder: 'HOST', description: 'incoming mail server host (needed for imap and pop3)', field: 'incomingHost' },
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
  'timeout-seconds': { type: 'string', placeholder: 'SECONDS', description: 'connection timeout (exchange_online: per Graph request)', field: 'connectionTimeoutSeconds' },
  owner: { type: 'string', placeholder: 'USER_ID', description: 'the user who gets its alerts (besides admins)', field: 'ownerUserId' },
  'tenant-id': { type: 'string', placeholder: 'TENANT', description: "exchange_online: the Entra ID tenant's GUID or domain", field: 'tenantId' },
  'client-id': { type: 'string', placeholder: 'CLIENT_ID', description: "exchange_online: the app registration's application (client) id", field: 'clientId' },
  'client-secret-stdin': { type: 'boolean', description: "exchange_online: read the app's client secret from stdin (stored encrypted)", field: 'clientSecret' },
  'certificate-file': {
    type: 'string',
    placeholder: 'FILE',
    description: "exchange_online: the app's certificate, PEM (instead of a client secret; with --private-key-file)",
    field: 'certificatePem',
  },
  'private-key-file': { type: 'string', placeholder: 'FILE', description: "the certificate's private key, unencrypted PEM (stored encrypted)", field: 'privateKeyPem' },
  'graph-base-url': {
    type: 'string',
    placeholder: 'URL',
    description: 'exchange_online: the Microsoft Graph host of a national cloud (default https://graph.microsoft.com/)',
    field: 'graphBaseUrl',
  },
  'authority-host': {
    type: 'string',
    placeholder: 'URL',
    description: 'exchange_online: the Entra ID authority host of a national cloud (default https://login.microsoftonline.com)',
    field: 'authorityHost',
  },
} satisfies Record<string, OptionSpec>;

type SettingValues = { [K in keyof typeof SETTINGS]?: (typeof SETTINGS)[K]['type'] extends 'boolean' ? boolean : string };

/** The profile fields the settings' flags give; what is not given stays undefined (a default, or unchanged). */
const profileFields = (o: SettingValues) => ({
  name: o.name,
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
  tenantId: o['tenant-id'],
  clientId: o['client-id'],
  clientSecret: readSecretFromStdin('client-secret-stdin', o['client-secret-stdin']),
  certificatePem: readFileOption('certificate-file', o['certificate-file']),
  privateKeyPem: readFileOption('private-key-file', o['private-key-file']),
  graphBaseUrl: o['graph-base-url'],
  authorityHost: o['authority-host'],
});

const SECRETS_NOTE =
  'An exchange_online profile takes its client secret from stdin (--client-secret-stdin), or a certificate and its key from files; ' +
  'they are stored encrypted and shown only as clientSecretSet, or the certificate thumbprint and expiry.';

export const profileCommands = [
  command({
    path: ['profile', 'create'],
    summary: 'Create an email server profile',
    details: [SECRETS_NOTE],
    schema: NewProfile,
    options: { ...SETTINGS, name: { ...SETTINGS.name, required: true }, type: { ...SETTINGS.type, required: true } },
    run: async ({ opts }, ctx) => {
      const { name, ...rest } = profileFields(opts);
      return { output: await (await ctx.admin()).createProfile({ name: name!, ...rest }) };
    },
  }),
  command({
    path: ['profile', 'set'],
    summary: "Change a profile (what is not given stays); its mailboxes use the change from their next cycle",
    details: [SECRETS_NOTE + ' A new credential replaces the stored one.'],
    args: [PROFILE_ID],
    schema: ProfilePatch,
    options: SETTINGS,
    run: async ({ args: [id], opts }, ctx) => ({ output: await (await ctx.admin()).updateProfile(id, profileFields(opts)) }),
  }),
  command({
    path: ['profile', 'show'],
    summary: 'An email server profile (its secrets are never shown)',
    args: [PROFILE_ID],
    options: {},
    run: async ({ args: [id] }, ctx) => ({ output: await (await ctx.admin()).getProfile(id) }),
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
