/**
 * What a server profile must say before it is stored: a server type this version can sync, a
 * host for the incoming server, and a port for each server it names (taken from the security
 * setting when the administrator leaves it out); an exchange_online profile instead names its
 * Entra ID app (tenant, client, one credential) and the Graph and authority hosts. Pure.
 */
export const SERVER_TYPES = ['imap', 'pop3', 'exchange_online'] as const;
export type ServerTypeName = (typeof SERVER_TYPES)[number];

/** The server types whose incoming mail this version syncs; a later version that syncs another adds it here. */
export const SYNCABLE_SERVER_TYPES: readonly ServerTypeName[] = ['imap', 'pop3', 'exchange_online'];

export type Security = 'none' | 'starttls' | 'tls';
export type MailProtocol = 'imap' | 'pop3' | 'smtp';

// IANA's ports: implicit TLS has its own port; STARTTLS and plain text share the protocol's.
const DEFAULT_PORTS: Record<MailProtocol, Record<Security, number>> = {
  imap: { tls: 993, starttls: 143, none: 143 },
  pop3: { tls: 995, starttls: 110, none: 110 },
  smtp: { tls: 465, starttls: 587, none: 25 },
};

export function defaultPort(protocol: MailProtocol, security: Security): number {
  return DEFAULT_PORTS[protocol][security];
}

/** The protocol of the profile's incoming server; null for Exchange Online (Graph over HTTPS). */
export function incomingProtocol(serverType: ServerTypeName): 'imap' | 'pop3' | null {
  return serverType === 'exchange_online' ? null : serverType;
}

export function canSyncIncoming(serverType: string): boolean {
  return (SYNCABLE_SERVER_TYPES as readonly string[]).includes(serverType);
}

/** The sentence for a server type this version does not sync: what it is, and what is supported. */
export function unsupportedServerTypeMessage(serverType: string): string {
  return (
    `Incoming sync for ${serverType} servers is not available in this version ` +
    `(supported server types: ${SYNCABLE_SERVER_TYPES.join(', ')}): use a profile of a supported type`
  );
}

/**
 * What is wrong with a mailbox's settings on a profile of this type, or null: POP3 has one folder,
 * INBOX; Exchange folders are display names or well-known names, each named once; deleting mail
 * after processing is done by the POP3 source only (IMAP and Graph sync read folders without
 * changing them, their cursors pass stored messages by, so they have no deletion step).
 */
export function mailboxSettingsProblem(
  serverType: string,
  settings: { folders?: string[]; deleteAfterProcessing?: boolean; trackSentFolder?: boolean },
): string | null {
  if (serverType === 'pop3' && settings.folders && settings.folders.some((f) => f.toUpperCase() !== 'INBOX')) {
    return 'A mailbox on a POP3 profile has one folder, INBOX: set folders to ["INBOX"]';
  }
  if (serverType === 'exchange_online' && settings.folders) {
    const problem = exchangeFoldersProblem(settings.folders);
    if (problem) return problem;
  }
  if (settings.deleteAfterProcessing && serverType !== 'pop3') {
    return `Deleting mail after processing is available for POP3 profiles only (this mailbox's profile is ${serverType}): leave deleteAfterProcessing off`;
  }
  if (settings.trackSentFolder && serverType === 'pop3') {
    return 'A POP3 server has no Sent folder to track: leave trackSentFolder off';
  }
  return null;
}

/** The settings of a profile that say where its servers are. */
export interface EndpointSettings {
  serverType: ServerTypeName;
  incomingHost: string | null;
  incomingPort: number | null;
  incomingSecurity: Security;
  outgoingHost: string | null;
  outgoingPort: number | null;
  outgoingSecurity: Security;
}

/** The mail-server settings an exchange_online profile has no use for: Graph is one HTTPS host for both directions. */
const SERVER_SETTINGS = ['incomingHost', 'incomingPort', 'outgoingHost', 'outgoingPort'] as const;

export type SettledEndpoints = { ok: true; incomingPort: number | null; outgoingPort: number | null } | { ok: false; problem: string };

/**
 * The ports to store for a new profile (`before` null) or a change to one, or the problem to
 * report. A port left out takes the security setting's default; a stored port that was the
 * default of the old setting follows a changed setting (tls 993 becomes starttls 143), while a
 * port the administrator chose stays.
 */
export function settleEndpoints(before: EndpointSettings | null, change: Partial<EndpointSettings>): SettledEndpoints {
  const after: EndpointSettings = {
    serverType: change.serverType ?? before?.serverType ?? 'imap',
    incomingHost: change.incomingHost ?? before?.incomingHost ?? null,
    incomingPort: change.incomingPort ?? before?.incomingPort ?? null,
    incomingSecurity: change.incomingSecurity ?? before?.incomingSecurity ?? 'tls',
    outgoingHost: change.outgoingHost ?? before?.outgoingHost ?? null,
    outgoingPort: change.outgoingPort ?? before?.outgoingPort ?? null,
    outgoingSecurity: change.outgoingSecurity ?? before?.outgoingSecurity ?? 'starttls',
  };
  // A profile of a type this version cannot sync may exist from an older version: it can still be
  // renamed or moved to a supported type, but nothing can be made into one.
  if ((before === null || change.serverType !== undefined) && !canSyncIncoming(after.serverType)) {
    return { ok: false, problem: unsupportedServerTypeMessage(after.serverType) };
  }
  if (after.serverType === 'exchange_online') {
    const serverSetting = SERVER_SETTINGS.find((k) => change[k] !== undefined && change[k] !== null);
    if (serverSetting) {
      return {
        ok: false,
        problem:
          `An exchange_online profile reaches its mailboxes, incoming and outgoing, through Microsoft Graph: leave out ${serverSetting} ` +
          '(graphBaseUrl and authorityHost name the hosts of a cloud other than the public one)',
      };
    }
    return { ok: true, incomingPort: null, outgoingPort: null };
  }
  const protocol = incomingProtocol(after.serverType);
  const incomingKeys = ['serverType', 'incomingHost', 'incomingPort', 'incomingSecurity'] as const;
  const touchesIncoming = before === null || incomingKeys.some((k) => change[k] !== undefined);
  if (protocol && touchesIncoming && !after.incomingHost) {
    return { ok: false, problem: `A profile of server type ${after.serverType} needs the host name of its incoming server (incomingHost)` };
  }

  const settle = (
    proto: MailProtocol | null,
    wasProto: MailProtocol | null,
    port: 'incomingPort' | 'outgoingPort',
    security: 'incomingSecurity' | 'outgoingSecurity',
  ): number | null => {
    if (!proto) return after[port];
    if (change[port] !== undefined) return change[port];
    const stored = before?.[port] ?? null;
    if (stored === null) return defaultPort(proto, after[security]);
    const wasDefault = before !== null && wasProto !== null && stored === defaultPort(wasProto, before[security]);
    return wasDefault ? defaultPort(proto, after[security]) : stored;
  };
  const wasIncoming = before ? incomingProtocol(before.serverType) : null;
  return {
    ok: true,
    incomingPort: settle(protocol, wasIncoming, 'incomingPort', 'incomingSecurity'),
    outgoingPort: settle(after.outgoingHost ? 'smtp' : null, 'smtp', 'outgoingPort', 'outgoingSecurity'),
  };
}

/** Graph's names for the folders every mailbox has (mailFolder resource); a folder setting may use them instead of a display name. */
export const WELL_KNOWN_MAIL_FOLDERS = [
  'inbox',
  'sentitems',
  'drafts',
  'deleteditems',
  'junkemail',
  'archive',
  'outbox',
  'clutter',
  'conversationhistory',
  'recoverableitemsdeletions',
  'scheduled',
  'searchfolders',
  'serverfailures',
  'syncissues',
  'localfailures',
  'conflicts',
  'msgfolderroot',
] as const;

/**
 * The Graph folder a mailbox's folder setting names: a well-known name (in any case; IMAP's INBOX,
 * the default setting, is the Inbox), else the display name of a folder, nested ones as
 * `Parent/Child`.
 */
export function exchangeFolder(setting: string): { wellKnownName: string } | { displayName: string } {
  const lower = setting.toLowerCase();
  return (WELL_KNOWN_MAIL_FOLDERS as readonly string[]).includes(lower) ? { wellKnownName: lower } : { displayName: setting };
}

function exchangeFoldersProblem(folders: string[]): string | null {
  const seen = new Map<string, string>();
  for (const folder of folders) {
    const ref = exchangeFolder(folder);
    // Exchange compares folder names without regard to case.
    const key = 'wellKnownName' in ref ? `w:${ref.wellKnownName}` : `d:${ref.displayName.toLowerCase()}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) return `folders names one Exchange folder twice ("${earlier}" and "${folder}"): name each folder once`;
    seen.set(key, folder);
  }
  return null;
}

// Graph app-only settings -------------------------------------------------------------------

/** What a stored profile says about its Graph app; nulls on a profile of another type. */
export interface GraphProfileSettings {
  serverType: ServerTypeName;
  tenantId: string | null;
  clientId: string | null;
  credentialKind: 'secret' | 'certificate' | null;
  graphBaseUrl: string | null;
  authorityHost: string | null;
}

/** The Graph settings a new profile or a change gives; a credential given replaces the stored one. */
export interface GraphSettingsChange {
  serverType?: ServerTypeName;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  certificatePem?: string;
  privateKeyPem?: string;
  graphBaseUrl?: string;
  authorityHost?: string;
}

const GRAPH_SETTINGS = ['tenantId', 'clientId', 'clientSecret', 'certificatePem', 'privateKeyPem', 'graphBaseUrl', 'authorityHost'] as const;

// Entra ID issues app-only tokens from the tenant itself; MSAL refuses these multi-tenant aliases for them.
const NOT_A_TENANT = ['common', 'organizations', 'consumers'];

/**
 * A Graph or authority host as the client libraries take it, or the problem naming the field: an
 * https URL of a host and nothing more (the Graph client reads the API version as the first path
 * segment; MSAL appends the tenant to the authority host).
 */
export function settleHostUrl(field: 'graphBaseUrl' | 'authorityHost', value: string): { ok: true; url: string } | { ok: false; problem: string } {
  const example = field === 'graphBaseUrl' ? 'https://graph.microsoft.us/' : 'https://login.microsoftonline.us';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, problem: `${field} must be an https URL such as ${example}; "${value}" is not a URL` };
  }
  if (url.protocol !== 'https:') return { ok: false, problem: `${field} must be an https URL such as ${example}, not ${url.protocol.replace(/:$/, '')}: Microsoft Graph and Entra ID are reached over HTTPS only` };
  if (url.username || url.password || url.search || url.hash || url.pathname.replace(/\/+$/, '') !== '') {
    return { ok: false, problem: `${field} names a host only, such as ${example}: leave out the path, query and user name` };
  }
  return { ok: true, url: field === 'graphBaseUrl' ? `${url.origin}/` : url.origin };
}

/**
 * What is wrong with the Graph settings of a new profile (`before` null) or a change to one, or
 * null: an exchange_online profile names its tenant, its app (client id) and exactly one
 * credential, a client secret or a certificate with its private key; other profiles have none of
 * these settings.
 */
export function graphSettingsProblem(before: GraphProfileSettings | null, change: GraphSettingsChange): string | null {
  const serverType = change.serverType ?? before?.serverType ?? 'imap';
  const given = GRAPH_SETTINGS.filter((k) => change[k] !== undefined);
  if (serverType !== 'exchange_online') {
    return given.length > 0 ? `${given[0]} is a setting of exchange_online profiles (this profile is ${serverType}): leave it out` : null;
  }
  // A stored profile's other settings can change while its Graph settings are incomplete (a row an older version stored).
  if (before?.serverType === 'exchange_online' && change.serverType === undefined && given.length === 0) return null;
  for (const field of ['graphBaseUrl', 'authorityHost'] as const) {
    const value = change[field];
    if (value === undefined) continue;
    const settled = settleHostUrl(field, value);
    if (!settled.ok) return settled.problem;
  }
  const wasExchange = before?.serverType === 'exchange_online';
  const tenantId = change.tenantId ?? (wasExchange ? before.tenantId : null);
  if (!tenantId) return 'An exchange_online profile needs the id of its Microsoft Entra tenant (tenantId): its GUID or a domain such as contoso.onmicrosoft.com';
  if (NOT_A_TENANT.includes(tenantId.toLowerCase())) {
    return `tenantId must name one tenant (its GUID or domain), not "${tenantId}": app-only tokens are issued by the tenant that granted the app its permissions`;
  }
  if (!(change.clientId ?? (wasExchange ? before.clientId : null))) {
    return 'An exchange_online profile needs the application (client) id of its app registration in Entra ID (clientId)';
  }
  const secretGiven = change.clientSecret !== undefined;
  const certificateGiven = change.certificatePem !== undefined || change.privateKeyPem !== undefined;
  if (secretGiven && certificateGiven) {
    return 'Give clientSecret, or certificatePem with privateKeyPem, not both: the app proves who it is with one credential';
  }
  if (certificateGiven && (change.certificatePem === undefined || change.privateKeyPem === undefined)) {
    return `A certificate credential needs the certificate and its private key: give certificatePem and privateKeyPem together (${change.certificatePem === undefined ? 'certificatePem' : 'privateKeyPem'} is missing)`;
  }
  if (!secretGiven && !certificateGiven && !(wasExchange && before.credentialKind)) {
    return "An exchange_online profile needs its app's credential: clientSecret, or certificatePem with privateKeyPem";
  }
  return null;
}

/**
 * What is wrong with how a mailbox signs in on a profile of this type, or null: a mailbox on an
 * IMAP or POP3 profile logs in with its own password (needed when it is created); one on an
 * exchange_online profile is a user of the tenant the profile's app reaches, with no password or
 * login name of its own.
 */
export function mailboxCredentialProblem(
  serverType: string,
  settings: { password?: string; username?: string | null; graphUser?: string | null },
  creating: boolean,
): string | null {
  if (serverType === 'exchange_online') {
    if (settings.password !== undefined) {
      return (
        'A mailbox on an exchange_online profile has no password of its own: the profile\'s app reaches every mailbox of its tenant ' +
        'through Microsoft Graph; leave password out (the app\'s credential is set on the profile)'
      );
    }
    if (settings.username) {
      return 'A mailbox on an exchange_online profile has no login name: leave username out (graphUser names the tenant user by object id; without it the email address is used)';
    }
    return null;
  }
  if (settings.graphUser) return `graphUser is for mailboxes on exchange_online profiles (this mailbox's profile is ${serverType}): leave it out`;
  if (creating && settings.password === undefined) return `A mailbox on a profile of server type ${serverType} logs in to its server with its own password: give password`;
  return null;
}
