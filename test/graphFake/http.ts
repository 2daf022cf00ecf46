import { randomBytes, randomUUID } from 'node:crypto';

/** One Graph request as the router sees it, from the HTTPS server or from inside a $batch. */
export interface FakeRequest {
  method: string;
  /** Path after /v1.0, e.g. /users/x/messages. */
  path: string;
  query: URLSearchParams;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: unknown;
  requestId: string;
}

export interface FakeResponse {
  status: number;
  headers: Record<string, string>;
  /** JSON-able value, undefined for no body. */
  body?: unknown;
}

/** Graph's success Content-Type (the JS client reads only the part before ';'). */
export const graphJsonType = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

/** Thrown by route code; turned into Graph's error body by the server. */
export class GraphFault extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

export function graphDate(now = new Date()): string {
  return now.toISOString().slice(0, 19);
}

/** `{error:{code,message,innerError:{date,'request-id','client-request-id'}}}`, Content-Type application/json. */
export function errorResponse(fault: GraphFault, request: { requestId: string; headers: Record<string, string> }): FakeResponse {
  return {
    status: fault.status,
    headers: { 'content-type': 'application/json', ...fault.headers },
    body: {
      error: {
        code: fault.code,
        message: fault.message,
        innerError: {
          date: graphDate(),
          'request-id': request.requestId,
          'client-request-id': request.headers['client-request-id'] ?? request.requestId,
        },
      },
    },
  };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): FakeResponse {
  return { status, headers: { 'content-type': graphJsonType, ...headers }, body };
}

export function empty(status: number, headers: Record<string, string> = {}): FakeResponse {
  return { status, headers };
}

export const faults = {
  notFound: (what = 'The specified object was not found in the store.') => new GraphFault(404, 'ErrorItemNotFound', what),
  badRequest: (message: string, code = 'BadRequest') => new GraphFault(400, code, message),
  accessDenied: () => new GraphFault(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.'),
  invalidUser: (user: string) => new GraphFault(404, 'ErrorInvalidUser', `The requested user '${user}' is invalid.`),
  mailboxNotEnabled: () => new GraphFault(404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.'),
  staleChangeKey: () =>
    new GraphFault(412, 'ErrorIrresolvableConflict',
      'The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.'),
  noRoute: (method: string, path: string) =>
    new GraphFault(400, 'BadRequest', `Resource not found for the segment '${path.split('/').filter(Boolean).pop() ?? ''}' (${method} ${path} is not served by the Graph fake).`),
};

/** Base64url text that looks like Exchange ids and change keys. */
export function opaque(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

export { randomUUID };

/** Value of one preference in the Prefer header(s), e.g. odata.maxpagesize or IdType. */
export function preference(headers: Record<string, string>, name: string): string | undefined {
  const prefer = headers['prefer'];
  if (!prefer) return undefined;
  for (const part of prefer.split(',')) {
    const [key, ...rest] = part.trim().split('=');
    if (key.trim().toLowerCase() === name.toLowerCase()) return rest.join('=').trim().replace(/^"|"$/g, '');
  }
  return undefined;
}
