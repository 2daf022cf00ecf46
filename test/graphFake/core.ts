import { X509Certificate } from 'node:crypto';
import { DeltaEngine } from './delta';
import { GraphFault, errorResponse, faults, preference, randomUUID, type FakeRequest, type FakeResponse } from './http';
import { Store, type Mailbox } from './state';
import { thumbprintSha256 } from './certificates';
import { serveBatch } from './routes/batch';

export interface FakeUserSpec {
  id?: string;
  mail: string;
  displayName?: string;
  /** false: a user without an Exchange Online licence (mailbox calls answer MailboxNotEnabledForRESTAPI). */
  hasMailbox?: boolean;
}

export interface FakeAppSpec {
  clientId?: string;
  clientSecret?: string;
  /** Application permissions consented for Graph; default: all the product uses. */
  permissions?: string[];
  /** Extra certificates (PEM) whose keys may sign client assertions. */
  certificatePems?: string[];
}

export interface FakeUser {
  id: string;
  mail: string;
  userPrincipalName: string;
  displayName: string;
  hasMailbox: boolean;
}

export interface FakeApp {
  clientId: string;
  clientSecret: string;
  permissions: Set<string>;
  /** Certificate by SHA-256 and SHA-1 thumbprint (hex, lower case). */
  certificates: Map<string, X509Certificate>;
}

export const allPermissions = ['Mail.ReadWrite', 'Mail.Send', 'Contacts.ReadWrite', 'Calendars.ReadWrite', 'Tasks.ReadWrite.All'];

export interface RequestLogEntry {
  startedAt: number;
  endedAt?: number;
  method: string;
  /** Path and query as requested (for $batch sub-requests: as written in the batch). */
  url: string;
  userId: string | null;
  status?: number;
  appId: string | null;
  /** Requests in flight for the same app and mailbox when this one started, itself included. */
  concurrentForMailbox: number;
  inBatch?: boolean;
}

export interface RouteContext {
  core: FakeCore;
  request: FakeRequest;
  params: Record<string, string>;
  app: FakeApp;
  user: FakeUser;
  mailbox: Mailbox;
  immutableIds: boolean;
}

type Handler = (context: RouteContext) => FakeResponse | Promise<FakeResponse>;

interface Route {
  method: string;
  segments: string[];
  /** Any one of these permissions grants access; empty = no check (directory reads). */
  permissions: string[];
  needsMailbox: boolean;
  handler: Handler;
}

export interface Limits {
  /** Concurrent requests per app and mailbox before 429 (Outlook: 4). */
  concurrency: number;
  /** Requests per app and mailbox per 10 minutes (Outlook: 10,000). */
  requestsPerTenMinutes: number;
}

interface Storm {
  fraction: number;
  retryAfterSeconds: [number, number];
  until: number;
  status: 429 | 503;
  methods?: string[];
}

interface FailNext {
  count: number;
  status: number;
  code: string;
  path?: RegExp;
  /** Retry-After to send; default 1 for 429 and 503, none otherwise; null: none. */
  retryAfterSeconds?: number | null;
  /** Do the work, then answer with the failure (a gateway timeout after the send was accepted). */
  afterHandling?: boolean;
  methods?: string[];
}

export const permissionSets = {
  mailRead: ['Mail.Read', 'Mail.ReadWrite'],
  mailWrite: ['Mail.ReadWrite'],
  mailSend: ['Mail.Send'],
  contactsRead: ['Contacts.Read', 'Contacts.ReadWrite'],
  contactsWrite: ['Contacts.ReadWrite'],
  calendarsRead: ['Calendars.Read', 'Calendars.ReadWrite'],
  calendarsWrite: ['Calendars.ReadWrite'],
  tasksRead: ['Tasks.Read.All', 'Tasks.ReadWrite.All'],
  tasksWrite: ['Tasks.ReadWrite.All'],
  directory: [] as string[],
};

/** Splits a Graph path into segments, turning OData key syntax `mailfolders('x')` into `mailfolders/x`. */
export function pathSegments(path: string): string[] {
  const out: string[] = [];
  for (const raw of path.split('/')) {
    if (!raw) continue;
    const segment = safeDecode(raw);
    const key = /^([^()]+)\('?((?:[^']|'')*?)'?\)$/.exec(segment);
    if (key) out.push(key[1], key[2].replace(/''/g, "'"));
    else out.push(segment);
  }
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export function formatRetryAfter(seconds: number): string {
  return Number.isInteger(seconds) ? String(seconds) : seconds.toFixed(3);
}

/** Everything but the sockets: tenant, apps, users, mailboxes, tokens, routing, throttling, scripts, log. */
export class FakeCore {
  readonly store = new Store();
  readonly delta: DeltaEngine;
  readonly users: FakeUser[] = [];
  readonly apps = new Map<string, FakeApp>();
  readonly tokens = new Map<string, { app: FakeApp; expiresAt: number }>();
  readonly requestLog: RequestLogEntry[] = [];
  readonly routes: Route[] = [];
  private readonly inFlight = new Map<string, number>();
  private readonly budget = new Map<string, { windowStart: number; count: number }>();
  private readonly maxSeen = new Map<string, number>();
  origin = 'https://localhost';
  storm: Storm | undefined;
  failures: FailNext[] = [];
  slowMs = 0;

  constructor(readonly tenantId: string, readonly limits: Limits, readonly sentItemsDelayMs: number) {
    this.delta = new DeltaEngine(this.store, () => this.origin);
  }

  addUser(spec: FakeUserSpec): FakeUser {
    const user: FakeUser = {
      id: spec.id ?? randomUUID(),
      mail: spec.mail,
      userPrincipalName: spec.mail,
      displayName: spec.displayName ?? spec.mail.split('@')[0],
      hasMailbox: spec.hasMailbox ?? true,
    };
    this.users.push(user);
    this.store.createMailbox(user.id);
    return user;
  }

  addApp(spec: FakeAppSpec): FakeApp {
    const app: FakeApp = {
      clientId: spec.clientId ?? randomUUID(),
      clientSecret: spec.clientSecret ?? `fake~${randomUUID().replace(/-/g, '')}`,
      permissions: new Set(spec.permissions ?? allPermissions),
      certificates: new Map(),
    };
    for (const pem of spec.certificatePems ?? []) this.addCertificate(app, pem);
    this.apps.set(app.clientId, app);
    return app;
  }

  addCertificate(app: FakeApp, pem: string): void {
    const certificate = new X509Certificate(pem);
    app.certificates.set(thumbprintSha256(pem).toLowerCase(), certificate);
    app.certificates.set(certificate.fingerprint.replace(/:/g, '').toLowerCase(), certificate);
  }

  findUser(idOrMail: string): FakeUser | undefined {
    const lower = idOrMail.toLowerCase();
    return this.users.find((u) => u.id.toLowerCase() === lower || u.mail.toLowerCase() === lower || u.userPrincipalName.toLowerCase() === lower);
  }

  mailboxOf(user: FakeUser): Mailbox {
    return this.store.mailboxes.get(user.id)!;
  }

  route(method: string, pattern: string, permissions: string[], handler: Handler, needsMailbox = true): void {
    this.routes.push({ method, segments: pattern.split('/').filter(Boolean), permissions, needsMailbox, handler });
  }

  maxConcurrentSeen(userId: string): number {
    return this.maxSeen.get(userId) ?? 0;
  }

  resetCounters(): void {
    this.maxSeen.clear();
    this.budget.clear();
  }

  private match(method: string, segments: string[]): { route: Route; params: Record<string, string> } | 'wrong-method' | undefined {
    let methodMismatch = false;
    for (const route of this.routes) {
      if (route.segments.length !== segments.length) continue;
      const params: Record<string, string> = {};
      const ok = route.segments.every((part, i) => {
        if (part.startsWith(':')) {
          params[part.slice(1)] = segments[i];
          return true;
        }
        return part.toLowerCase() === segments[i].toLowerCase();
      });
      if (!ok) continue;
      if (route.method !== method) {
        methodMismatch = true;
        continue;
      }
      return { route, params };
    }
    return methodMismatch ? 'wrong-method' : undefined;
  }

  authenticate(request: FakeRequest): FakeApp {
    const header = request.headers['authorization'];
    const token = header && /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!token) throw new GraphFault(401, 'InvalidAuthenticationToken', 'Access token is empty.', { 'www-authenticate': 'Bearer realm=""' });
    const issued = this.tokens.get(token);
    if (!issued) throw new GraphFault(401, 'InvalidAuthenticationToken', 'IDX14100: JWT is not well formed, there are no dots (.).', { 'www-authenticate': 'Bearer realm=""' });
    if (issued.expiresAt <= Date.now()) throw new GraphFault(401, 'InvalidAuthenticationToken', 'Lifetime validation failed, the token is expired.');
    return issued.app;
  }

  /** One Graph request from the wire (or a $batch step): log, route, throttle, run; never throws. */
  async serve(request: FakeRequest, app: FakeApp | undefined, inBatch = false): Promise<FakeResponse> {
    const entry: RequestLogEntry = {
      startedAt: Date.now(), method: request.method, url: request.path + (request.query.size ? `?${request.query.toString()}` : ''),
      userId: null, appId: app?.clientId ?? null, concurrentForMailbox: 0, ...(inBatch ? { inBatch } : {}),
    };
    this.requestLog.push(entry);
    let response: FakeResponse;
    try {
      const caller = app ?? this.authenticate(request);
      entry.appId = caller.clientId;
      response = await this.run(request, caller, entry);
    } catch (err) {
      if (!(err instanceof GraphFault)) throw err;
      response = errorResponse(err, request);
    }
    response.headers['request-id'] = request.requestId;
    response.headers['client-request-id'] = request.headers['client-request-id'] ?? request.requestId;
    entry.status = response.status;
    entry.endedAt = Date.now();
    return response;
  }

  private async run(request: FakeRequest, app: FakeApp, entry: RequestLogEntry): Promise<FakeResponse> {
    const segments = pathSegments(request.path);
    if (segments[0]?.toLowerCase() === 'me') {
      throw faults.badRequest('/me request is only valid with delegated authentication flow.');
    }
    if (segments[0] === '$batch' && segments.length === 1 && request.method === 'POST' && !entry.inBatch) {
      return serveBatch(this, request, app);
    }
    const found = this.match(request.method, segments);
    if (found === 'wrong-method') throw new GraphFault(405, 'Request_BadRequest', `Specified HTTP method is not allowed for the request target.`);
    if (!found) throw faults.noRoute(request.method, request.path);
    const userKey = found.params.user;
    const user = userKey !== undefined ? this.findUser(userKey) : undefined;
    if (userKey !== undefined && !user) {
      // The directory answers for /users/{id} itself; Exchange for everything under it.
      if (segments.length === 2) {
        throw new GraphFault(404, 'Request_ResourceNotFound', `Resource '${userKey}' does not exist or one of its queried reference-property objects are not present.`);
      }
      throw faults.invalidUser(userKey);
    }
    entry.userId = user?.id ?? null;
    const failAfter = this.applyScripts(request);
    const key = `${app.clientId}|${user?.id ?? '-'}`;
    const inFlight = (this.inFlight.get(key) ?? 0) + 1;
    entry.concurrentForMailbox = inFlight;
    if (user) this.maxSeen.set(user.id, Math.max(this.maxSeen.get(user.id) ?? 0, inFlight));
    if (user && inFlight > this.limits.concurrency) {
      throw new GraphFault(429, 'ApplicationThrottled', 'Application is over its MailboxConcurrency limit.', { 'retry-after': '1' });
    }
    if (user) this.chargeBudget(key);
    this.inFlight.set(key, inFlight);
    try {
      if (this.slowMs > 0) await new Promise((resolve) => setTimeout(resolve, this.slowMs));
      if (found.route.permissions.length > 0 && !found.route.permissions.some((p) => app.permissions.has(p))) throw faults.accessDenied();
      if (found.route.needsMailbox && user && !user.hasMailbox) throw faults.mailboxNotEnabled();
      const response = await found.route.handler({
        core: this, request, params: found.params, app, user: user!, mailbox: user ? this.mailboxOf(user) : (undefined as unknown as Mailbox),
        immutableIds: preference(request.headers, 'IdType')?.toLowerCase() === 'immutableid',
      });
      if (failAfter) throw failAfter;
      return response;
    } finally {
      const left = (this.inFlight.get(key) ?? 1) - 1;
      if (left === 0) this.inFlight.delete(key);
      else this.inFlight.set(key, left);
    }
  }

  private chargeBudget(key: string): void {
    const now = Date.now();
    const budget = this.budget.get(key);
    if (!budget || now - budget.windowStart >= 600_000) {
      this.budget.set(key, { windowStart: now, count: 1 });
      return;
    }
    budget.count++;
    if (budget.count > this.limits.requestsPerTenMinutes) {
      const retryAfter = Math.ceil((budget.windowStart + 600_000 - now) / 1000);
      throw new GraphFault(429, 'ApplicationThrottled', 'Application is over its MailboxRequests limit.', { 'retry-after': String(retryAfter) });
    }
  }

  /** Throws a scripted failure that replaces the work; returns one to answer with after the work. */
  private applyScripts(request: FakeRequest): GraphFault | undefined {
    const target = request.path + (request.query.size ? `?${request.query.toString()}` : '');
    const failure = this.failures.find((f) => (!f.path || f.path.test(target)) && (!f.methods || f.methods.includes(request.method)));
    if (failure) {
      failure.count--;
      if (failure.count <= 0) this.failures.splice(this.failures.indexOf(failure), 1);
      const retryAfter = failure.retryAfterSeconds === undefined ? (failure.status === 429 || failure.status === 503 ? 1 : null) : failure.retryAfterSeconds;
      const headers: Record<string, string> = retryAfter === null ? {} : { 'retry-after': formatRetryAfter(retryAfter) };
      const fault = new GraphFault(failure.status, failure.code, `Scripted failure (${failure.code}).`, headers);
      if (failure.afterHandling) return fault;
      throw fault;
    }
    const storm = this.storm;
    if (storm && Date.now() < storm.until && (!storm.methods || storm.methods.includes(request.method)) && Math.random() < storm.fraction) {
      const [low, high] = storm.retryAfterSeconds;
      const retryAfter = Math.round((low + Math.random() * (high - low)) * 1000) / 1000;
      const headers = { 'retry-after': formatRetryAfter(retryAfter) };
      if (storm.status === 503) throw new GraphFault(503, 'serviceNotAvailable', 'The service is temporarily unavailable. Please retry later.', headers);
      throw new GraphFault(429, 'TooManyRequests', 'Too many requests, please retry later.', headers);
    }
    return undefined;
  }
}
