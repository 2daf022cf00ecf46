/**
 * What a server profile must say before it is stored: a server type this version can sync, a
 * host for the incoming server, and a port for each server it names (taken from the security
 * setting when the administrator leaves it out). Pure.
 */
export const SERVER_TYPES = ['imap', 'pop3', 'exchange_online'] as const;
export type ServerTypeName = (typeof SERVER_TYPES)[number];

/** The server types whose incoming mail this version syncs; a later version that syncs another adds it here. */
export const SYNCABLE_SERVER_TYPES: readonly ServerTypeName[] = ['imap', 'pop3'];

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
 * INBOX; deleting mail after processing is done by the POP3 source only (IMAP sync examines its
 * folders read-only and its cursor passes stored messages by, so it has no deletion step).
 */
export function mailboxSettingsProblem(
  serverType: string,
  settings: { folders?: string[]; deleteAfterProcessing?: boolean; trackSentFolder?: boolean },
): string | null {
  if (serverType === 'pop3' && settings.folders && settings.folders.some((f) => f.toUpperCase() !== 'INBOX')) {
    return 'A mailbox on a POP3 profile has one folder, INBOX: set folders to ["INBOX"]';
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
