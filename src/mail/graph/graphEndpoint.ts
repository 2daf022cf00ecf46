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
