/** How the app proves who it is to Entra ID: a client secret, or a certificate whose private key signs an assertion. */
export type GraphCredential =
  | { kind: 'secret'; secret: string }
  | { kind: 'certificate'; certificatePem: string; privateKeyPem: string; thumbprintSha256: string };

/** Public cloud hosts; sovereign clouds (US Government, China) set their own on the profile. */
export const DEFAULT_GRAPH_BASE_URL = 'https://graph.microsoft.com/';
export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';

/** One Exchange Online mailbox as the app reaches it through Graph, credentials already decrypted (never leaves the activity). */
export interface GraphEndpoint {
  /** Tenant GUID or domain: the authority's path segment. */
  tenantId: string;
  clientId: string;
  credential: GraphCredential;
  graphBaseUrl: string;
  authorityHost: string;
  /** The mailbox: the tenant user's address (user principal name) or object id. */
  user: string;
  requestTimeoutMs: number;
}

/** Graph serves at most this many concurrent requests per app and mailbox (graph.md §6.1). */
export const GRAPH_MAILBOX_CONCURRENCY = 4;

/**
 * The connection-slot key of one Graph mailbox: every activity that talks to the mailbox (sync,
 * send, tests) holds one of its GRAPH_MAILBOX_CONCURRENCY slots under this key, across workers.
 */
export function graphMailboxSlotKey(endpoint: Pick<GraphEndpoint, 'tenantId' | 'user'>): string {
  return `graph-mailbox:${endpoint.tenantId.toLowerCase()}:${endpoint.user.toLowerCase()}`;
}
