import { createHash } from 'node:crypto';
import { ConfidentialClientApplication, LogLevel, type Configuration } from '@azure/msal-node';
import { AuthenticationHandler, Client, TelemetryHandler, type Context, type GraphError, type Middleware } from '@microsoft/microsoft-graph-client';
import {
  classifyGraphFailure,
  decideGraphRetry,
  DEFAULT_GRAPH_RETRY,
  type GraphFailure,
  type GraphFailureFacts,
  type GraphRetrySettings,
} from '../../policy/graphErrors';
import type { GraphEndpoint } from './graphEndpoint';

const GRAPH_SCOPE_SUFFIX = '.default';

/** A failed token or Graph request, classified; the activity reads errorClass, message and retryAfterMs. */
export class GraphRequestError extends Error {
  readonly errorClass: GraphFailure['errorClass'];
  readonly throttled: boolean;
  readonly retryAfterMs?: number;
  readonly syncStateLost: boolean;
  /** Graph's error code (callers handle some, such as ErrorItemNotFound), or the socket code of a request that got no answer. */
  readonly code: string | null;

  constructor(
    failure: GraphFailure,
    readonly statusCode: number,
    code: string | null,
  ) {
    super(failure.message);
    this.name = 'GraphRequestError';
    this.errorClass = failure.errorClass;
    this.throttled = failure.throttled;
    this.retryAfterMs = failure.retryAfterMs;
    this.syncStateLost = failure.syncStateLost;
    this.code = code;
  }
}

// One token client per app registration and authority, for the life of the process, so its
// token cache serves every mailbox of the tenant (tokens last an hour).
const tokenClients = new Map<string, ConfidentialClientApplication>();

function authorityOf(endpoint: GraphEndpoint): string {
  return `${endpoint.authorityHost.replace(/\/+$/, '')}/${endpoint.tenantId}`;
}

function tokenClientFor(endpoint: GraphEndpoint): ConfidentialClientApplication {
  const authority = authorityOf(endpoint);
  const credentialDigest = createHash('sha256').update(JSON.stringify(endpoint.credential)).digest('hex');
  const key = `${authority}|${endpoint.clientId}|${credentialDigest}`;
  let client = tokenClients.get(key);
  if (!client) {
    const host = new URL(authority).host;
    // Given the host and the endpoints, MSAL never calls a discovery endpoint (graph.md §1.4): a
    // sovereign cloud or a test authority works without login.microsoftonline.com.
    const config: Configuration = {
      auth: {
        clientId: endpoint.clientId,
        authority,
        knownAuthorities: [host],
        authorityMetadata: JSON.stringify({
          token_endpoint: `${authority}/oauth2/v2.0/token`,
          authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
          issuer: `${authority}/v2.0`,
          jwks_uri: `${authority}/discovery/v2.0/keys`,
        }),
        ...(endpoint.credential.kind === 'secret'
          ? { clientSecret: endpoint.credential.secret }
          : {
              clientCertificate: {
                thumbprintSha256: endpoint.credential.thumbprintSha256,
                privateKey: endpoint.credential.privateKeyPem,
                x5c: endpoint.credential.certificatePem,
              },
            }),
      },
      system: { loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => undefined } },
    };
    client = new ConfidentialClientApplication(config);
    tokenClients.set(key, client);
  }
  return client;
}

function graphScope(endpoint: GraphEndpoint): string {
  return `${new URL(endpoint.graphBaseUrl).origin}/${GRAPH_SCOPE_SUFFIX}`;
}

/** AADSTS numbers from MSAL's error (its message carries `error_codes` and the description). */
function aadstsCodes(err: { errorMessage?: string; message?: string }): number[] {
  const text = `${err.errorMessage ?? ''} ${err.message ?? ''}`;
  return [...text.matchAll(/AADSTS(\d+)/g)].map((m) => Number(m[1]));
}

async function acquireToken(endpoint: GraphEndpoint): Promise<string> {
  try {
    const result = await tokenClientFor(endpoint).acquireTokenByClientCredential({ scopes: [graphScope(endpoint)] });
    if (!result?.accessToken) throw new Error('Entra ID returned no access token');
    return result.accessToken;
  } catch (err) {
    if (err instanceof GraphRequestError) throw err;
    const e = err as { errorCode?: string; errorMessage?: string; message?: string; status?: number; subError?: string };
    const serverAnswered = typeof e.errorCode === 'string' && !['network_error', 'endpoints_resolution_error'].includes(e.errorCode);
    const facts: GraphFailureFacts = {
      fromTokenEndpoint: true,
      statusCode: serverAnswered ? (e.status ?? 400) : -1,
      code: e.errorCode ?? null,
      message: firstLine(e.errorMessage ?? e.message),
      aadstsCodes: aadstsCodes(e),
    };
    throw new GraphRequestError(classifyGraphFailure(facts), facts.statusCode ?? -1, e.errorCode ?? null);
  }
}

function firstLine(text: string | undefined): string | undefined {
  return text?.split('\n')[0].trim().slice(0, 300) || undefined;
}

function retryAfterSeconds(headers: Headers | undefined): number | undefined {
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, (at - Date.now()) / 1000) : undefined;
}

function factsOfGraphError(err: unknown): GraphFailureFacts {
  const e = err as Partial<GraphError>;
  if (typeof e.statusCode === 'number' && e.statusCode > 0) {
    return { statusCode: e.statusCode, code: e.code ?? null, message: firstLine(e.message), retryAfterSeconds: retryAfterSeconds(e.headers) };
  }
  // The Graph client keeps only a failed fetch's name as the code: FetchHandler names it by its socket code.
  return { statusCode: -1, networkCode: e.code ?? undefined, message: firstLine(e.message) };
}

/**
 * The end of the middleware chain: fetch, with a failure that got no answer renamed after its
 * socket code (ECONNREFUSED, ETIMEDOUT), which is all of it the Graph client passes on.
 */
class FetchHandler implements Middleware {
  async execute(context: Context): Promise<void> {
    try {
      context.response = await fetch(context.request, context.options);
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
      const named = new Error(timedOut ? 'Microsoft Graph did not answer within the time-out' : (e.cause as Error | undefined)?.message ?? e.message);
      named.name = timedOut ? 'ETIMEDOUT' : (e.cause?.code ?? e.name);
      throw named;
    }
  }
}

export interface GraphRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** A path under the version (`/users/x/messages`) or an absolute link Graph gave (nextLink, deltaLink). */
  url: string;
  body?: unknown;
  /** `Prefer` preferences, joined into one header. */
  prefer?: string[];
  headers?: Record<string, string>;
  /** False for a request that may have taken effect when it failed and must not be repeated (send). */
  repeatable?: boolean;
}

export interface GraphSessionOptions {
  retry?: GraphRetrySettings;
  /** Told of every throttled answer, for the server-load record. */
  onThrottled?: (retryAfterMs: number | undefined) => void;
  /** Called at least once a second while a request waits to be tried again: the activity heartbeats. */
  onWaiting?: () => void;
}

/**
 * One mailbox's conversation with Graph: app-only tokens from MSAL, requests one at a time (the
 * caller holds one of the mailbox's four slots, graph.md §6.1), and retries decided by
 * decideGraphRetry -- the Graph client's own RetryHandler is left out of the chain because it
 * would resend a send request answered 503/504 (graph.md §1.6).
 */
export class GraphSession {
  private readonly client: Client;
  private readonly retry: GraphRetrySettings;
  private queue: Promise<unknown> = Promise.resolve();
  /** Taken before each request (from MSAL's cache, mostly), so a token failure keeps its own classification. */
  private token = '';

  constructor(
    readonly endpoint: GraphEndpoint,
    private readonly options: GraphSessionOptions = {},
  ) {
    this.retry = options.retry ?? DEFAULT_GRAPH_RETRY;
    const auth = new AuthenticationHandler({ getAccessToken: async () => this.token });
    const telemetry = new TelemetryHandler();
    auth.setNext(telemetry);
    telemetry.setNext(new FetchHandler());
    const base = new URL(endpoint.graphBaseUrl);
    this.client = Client.initWithMiddleware({
      middleware: auth,
      baseUrl: base.origin + '/',
      defaultVersion: 'v1.0',
      // The Authorization header goes only to hosts the client knows; it compares without the port.
      customHosts: new Set([base.hostname]),
    });
  }

  /** The user segment of every mailbox path. */
  get userPath(): string {
    return `/users/${encodeURIComponent(this.endpoint.user)}`;
  }

  /** Gets a token now: Test & Enable's first check. */
  async checkToken(): Promise<void> {
    await acquireToken(this.endpoint);
  }

  /** Runs the request, retried as decideGraphRetry says; rejects with a GraphRequestError. */
  request<T>(req: GraphRequest): Promise<T> {
    const run = this.queue.then(() => this.attempt<T>(req));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async attempt<T>(req: GraphRequest): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.token = await acquireToken(this.endpoint);
        return await this.send<T>(req);
      } catch (err) {
        const failure = err instanceof GraphRequestError ? err : this.classify(err, req.url);
        if (failure.throttled) this.options.onThrottled?.(failure.retryAfterMs);
        const decision = decideGraphRetry(failure, attempt, req.repeatable ?? req.method !== 'POST', this.retry);
        if (!decision.retry) throw failure;
        await this.pause(decision.waitMs);
      }
    }
  }

  private async pause(ms: number): Promise<void> {
    const until = Date.now() + ms;
    for (let left = ms; left > 0; left = until - Date.now()) {
      this.options.onWaiting?.();
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, 1000)));
    }
  }

  private classify(err: unknown, path: string): GraphRequestError {
    const facts = { ...factsOfGraphError(err), path };
    return new GraphRequestError(classifyGraphFailure(facts), facts.statusCode ?? -1, facts.code ?? facts.networkCode ?? null);
  }

  private async send<T>(req: GraphRequest): Promise<T> {
    const headers: Record<string, string> = { ...req.headers };
    if (req.prefer?.length) headers.Prefer = req.prefer.join(', ');
    const call = this.client.api(req.url).headers(headers).option('signal', AbortSignal.timeout(this.endpoint.requestTimeoutMs));
    switch (req.method) {
      case 'GET':
        return (await call.get()) as T;
      case 'POST':
        return (await call.post(req.body ?? {})) as T;
      case 'PATCH':
        return (await call.patch(req.body ?? {})) as T;
      case 'DELETE':
        return (await call.delete()) as T;
    }
  }
}
