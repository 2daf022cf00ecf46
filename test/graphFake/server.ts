import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Contact, Event, Message, TodoTask, TodoTaskList } from '@microsoft/microsoft-graph-types';
import { serveAuthority } from './auth';
import { ensureFakeCertificates, defaultCertificateDir } from './certificates';
import { FakeCore, allPermissions, type FakeAppSpec, type FakeUser, type FakeUserSpec, type Limits, type RequestLogEntry } from './core';
import { GraphFault, errorResponse, faults, randomUUID, type FakeRequest, type FakeResponse } from './http';
import { render } from './render';
import type { Container, ItemRecord, Mailbox } from './state';
import { registerMailFolderRoutes, requireMailFolder } from './routes/mailFolders';
import { insertMessage, messageData, registerMessageRoutes, registerUserListRoute } from './routes/messages';
import { applyExtendedProperties, changeEvent, contactData, eventData, expandSeries, registerOrganizerRoutes, removeEvent, requireContactFolder, taskData } from './routes/organizer';
import { registerSubscriptionRoutes } from './routes/subscriptions';
import { registerUploadRoutes } from './routes/uploads';

export type { FakeAppSpec, FakeUser, FakeUserSpec, RequestLogEntry } from './core';

export interface GraphFakeOptions {
  users?: FakeUserSpec[];
  /** Extra apps; the default app (all permissions, secret and certificate) always exists. */
  apps?: FakeAppSpec[];
  /** Fixed id and secret for the default app (random otherwise). */
  defaultApp?: { clientId?: string; clientSecret?: string };
  /** 0 or absent: a free port. */
  port?: number;
  /** Delay between send/sendMail and the Sent Items copy (and local delivery). Default 300 ms. */
  sentItemsDelayMs?: number;
  tenantId?: string;
  limits?: Partial<Limits>;
  certificateDir?: string;
  /** Host the fake binds to; default 127.0.0.1 (links always say localhost). */
  host?: string;
  /** Serve /_fake/… (seed mail, script faults, read the log) for people and other processes; off in tests. */
  controlApi?: boolean;
}

/** Direct state access for tests and for seeding, bypassing HTTP, throttling and the request log. */
export interface FakeMailbox {
  user: FakeUser;
  /** Mail folders by well-known name (inbox, drafts, sentitems, deleteditems, junkemail, archive, outbox) and by display name of custom ones. */
  folders: Record<string, { id: string; displayName: string }>;
  addFolder(displayName: string, parent?: string): { id: string; displayName: string };
  addMessage(folder: string, message?: Partial<Message>, options?: { singleValueExtendedProperties?: Array<{ id: string; value: string }> }): Message;
  addMessages(folder: string, count: number, template?: (index: number) => Partial<Message>): Message[];
  update(id: string, patch: Partial<Message>): Message;
  move(id: string, folder: string): Message;
  delete(id: string): void;
  list(folder: string): Message[];
  get(id: string): Message | undefined;
  contactFolders: Record<string, { id: string; displayName: string }>;
  addContact(contact: Partial<Contact>, folder?: string): Contact;
  updateContact(id: string, patch: Partial<Contact>): Contact;
  deleteContact(id: string): void;
  listContacts(folder?: string): Contact[];
  addEvent(event: Partial<Event>): Event;
  updateEvent(id: string, patch: Partial<Event>): Event;
  deleteEvent(id: string): void;
  listEvents(): Event[];
  /** To Do lists by display name; 'Tasks' is the default list. */
  taskLists(): TodoTaskList[];
  addTaskList(displayName: string): TodoTaskList;
  addTask(listId: string, task: Partial<TodoTask>): TodoTask;
  updateTask(id: string, patch: Partial<TodoTask>): TodoTask;
  deleteTask(id: string): void;
  listTasks(listId: string): TodoTask[];
}

export interface GraphFakeScript {
  /** For `forMs`, answer `fraction` of Graph requests with 429 (or 503) and a random Retry-After in the range. */
  throttle(options: { fraction: number; retryAfterSeconds: [number, number]; forMs: number; status?: 429 | 503; methods?: string[] }): void;
  /**
   * Default: every delta/skip token issued so far answers 410 SyncStateNotFound. midPaging: the next
   * nextLink followed fails instead (one shot). withLocation: the 410 carries a Location header with
   * the initial delta URL (synchronization reset). code: another error code (syncStateNotFound, resyncRequired).
   */
  expireDeltaTokens(options?: { midPaging?: boolean; withLocation?: boolean; code?: string }): void;
  /**
   * The next `count` Graph requests whose path+query matches `path` (and method is in `methods`) fail with
   * status/code. Retry-After: `retryAfterSeconds`, default 1 for 429 and 503 and none for others; null sends none
   * (a bare 503 or 504). afterHandling: the request takes effect first, then fails (a 504 after a send was
   * accepted: what makes automatic retries of POST …/send dangerous).
   */
  failNext(options: {
    count: number; status: number; code: string; path?: RegExp; methods?: string[]; retryAfterSeconds?: number | null; afterHandling?: boolean;
  }): void;
  /** Every Graph request takes at least `ms` (holding its concurrency slot). */
  slow(ms: number): void;
  /** Duplicates in a round, replays across rounds, an empty first page: the legal awkwardness of delta. */
  duplicates(on: boolean): void;
  /** Sends lifecycle notifications (missed, subscriptionRemoved, reauthorizationRequired) to every subscription's lifecycleNotificationUrl. */
  lifecycle(event: 'missed' | 'subscriptionRemoved' | 'reauthorizationRequired'): Promise<void>;
  /** Drop (do not deliver) change notifications while on. */
  dropNotifications(on: boolean): void;
  reset(): void;
}

export interface GraphFake {
  /** 'https://localhost:PORT/'; links the fake emits are 'https://localhost:PORT/v1.0/...'. */
  graphBaseUrl: string;
  /** 'https://localhost:PORT'; token URL `${authorityHost}/${tenantId}/oauth2/v2.0/token`. */
  authorityHost: string;
  port: number;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  certificate: { pem: string; privateKeyPem: string; thumbprintSha256: string };
  caFile: string;
  users: FakeUser[];
  addUser(spec: FakeUserSpec): FakeUser;
  addApp(spec: FakeAppSpec): { clientId: string; clientSecret: string };
  mailbox(user: string): FakeMailbox;
  script: GraphFakeScript;
  requestLog: RequestLogEntry[];
  maxConcurrentSeen(userId: string): number;
  /** Forgets maxConcurrentSeen and the 10-minute request budgets (the request log is an array: empty it yourself). */
  resetCounters(): void;
  /** Issued access tokens can be revoked to test 401 handling. */
  revokeTokens(): void;
  close(): Promise<void>;
}

const defaultUsers: FakeUserSpec[] = [
  { mail: 'adele.vance@contoso.example', displayName: 'Adele Vance' },
  { mail: 'alex.wilber@contoso.example', displayName: 'Alex Wilber' },
];

function collectBody(request: import('node:http').IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function lowerHeaders(headers: import('node:http').IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) if (value !== undefined) out[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

export async function startGraphFake(options: GraphFakeOptions = {}): Promise<GraphFake> {
  const certificates = await ensureFakeCertificates(options.certificateDir ?? defaultCertificateDir);
  const core = new FakeCore(options.tenantId ?? randomUUID(), {
    concurrency: options.limits?.concurrency ?? 4,
    requestsPerTenMinutes: options.limits?.requestsPerTenMinutes ?? 10_000,
  }, options.sentItemsDelayMs ?? 300);
  registerUserListRoute(core);
  registerMailFolderRoutes(core);
  registerMessageRoutes(core);
  registerOrganizerRoutes(core);
  const subscriptions = registerSubscriptionRoutes(core);
  const serveUpload = registerUploadRoutes(core);
  const defaultApp = core.addApp({ ...options.defaultApp, permissions: allPermissions, certificatePems: [certificates.client.pem] });
  for (const spec of options.apps ?? []) core.addApp(spec);
  for (const spec of options.users ?? defaultUsers) core.addUser(spec);

  const server = https.createServer({ cert: certificates.serverCertPem, key: certificates.serverKeyPem, keepAlive: true }, (req, res) => {
    void (async () => {
      const raw = await collectBody(req);
      const url = new URL(req.url ?? '/', core.origin);
      const headers = lowerHeaders(req.headers);
      let response: FakeResponse;
      const authority = serveAuthority(core, req.method ?? 'GET', url, headers, raw.toString('utf8'));
      const control = options.controlApi && url.pathname.startsWith('/_fake/') ? serveControl(url, req.method ?? 'GET', raw.toString('utf8')) : undefined;
      const upload = url.pathname.startsWith('/api/v2.0/') ? serveUpload(req.method ?? 'GET', url, headers, raw) : undefined;
      if (control) {
        response = control;
      } else if (upload) {
        core.requestLog.push({ startedAt: Date.now(), endedAt: Date.now(), method: req.method ?? 'GET', url: url.pathname, userId: null,
          status: upload.status, appId: null, concurrentForMailbox: 0 });
        response = upload;
      } else if (authority) {
        core.requestLog.push({ startedAt: Date.now(), endedAt: Date.now(), method: req.method ?? 'GET', url: url.pathname + url.search, userId: null,
          status: authority.status, appId: null, concurrentForMailbox: 0 });
        response = authority;
      } else {
        const requestId = randomUUID();
        const versioned = /^\/v1\.0(\/.*)?$/i.exec(url.pathname);
        const request: FakeRequest = { method: req.method ?? 'GET', path: versioned?.[1] ?? url.pathname, query: url.searchParams, headers, body: undefined, requestId };
        if (!versioned) {
          response = errorResponse(new GraphFault(400, 'BadRequest', `Invalid version: the Graph fake serves /v1.0 only (got ${url.pathname}).`), request);
        } else {
          const contentType = headers['content-type'] ?? '';
          if (raw.length > 4 * 1024 * 1024) {
            // Graph refuses request bodies over 4 MB; larger attachments go through an upload session.
            response = errorResponse(new GraphFault(413, 'RequestEntityTooLarge', 'The request body is larger than 4 MB; use an upload session for large attachments.'), request);
          } else if (raw.length > 0 && contentType.toLowerCase().startsWith('application/json')) {
            try {
              request.body = JSON.parse(raw.toString('utf8'));
            } catch {
              response = errorResponse(faults.badRequest('Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.'), request);
            }
          } else if (raw.length > 0) {
            request.body = raw.toString('utf8');
          }
          response ??= await core.serve(request, undefined);
        }
      }
      const body = response.body === undefined ? undefined : JSON.stringify(response.body);
      res.writeHead(response.status, { ...response.headers, ...(body === undefined ? { 'content-length': '0' } : { 'content-length': Buffer.byteLength(body) }) });
      res.end(body);
    })().catch((err: Error) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'InternalServerError', message: `Graph fake bug: ${err.message}`, innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': randomUUID() } } }));
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  core.origin = `https://localhost:${port}`;

  const mailboxApi = (key: string): FakeMailbox => {
    const user = core.findUser(key);
    if (!user) throw new Error(`No such fake user: ${key}`);
    return createMailboxApi(core, user, core.mailboxOf(user));
  };

  const script: GraphFakeScript = {
    throttle: (o) => {
      core.storm = { fraction: o.fraction, retryAfterSeconds: o.retryAfterSeconds, until: Date.now() + o.forMs, status: o.status ?? 429, methods: o.methods?.map((m) => m.toUpperCase()) };
    },
    expireDeltaTokens: (o) => core.delta.expire(o),
    failNext: (o) => {
      core.failures.push({ ...o, methods: o.methods?.map((m) => m.toUpperCase()) });
    },
    slow: (ms) => {
      core.slowMs = ms;
    },
    duplicates: (on) => {
      core.delta.quirks.duplicates = on;
    },
    lifecycle: (event) => subscriptions.lifecycle(event),
    dropNotifications: (on) => subscriptions.drop(on),
    reset: () => {
      core.storm = undefined;
      core.failures = [];
      core.slowMs = 0;
      core.delta.reset();
      subscriptions.drop(false);
    },
  };

  /** The control API: the same scripting and seeding tests do in-process, as JSON over HTTPS. */
  function serveControl(url: URL, method: string, rawBody: string): FakeResponse {
    const reply = (status: number, body: unknown): FakeResponse => ({ status, headers: { 'content-type': 'application/json' }, body });
    try {
      const body = rawBody ? (JSON.parse(rawBody) as Record<string, unknown>) : {};
      const parts = url.pathname.split('/').filter(Boolean).slice(1).map(decodeURIComponent);
      if (method === 'GET' && parts[0] === 'log') {
        const last = Number(url.searchParams.get('last') ?? 100);
        return reply(200, { value: core.requestLog.slice(-last) });
      }
      if (method === 'GET' && parts[0] === 'users') return reply(200, { value: core.users });
      if (method === 'POST' && parts[0] === 'users' && parts[2] === 'messages') {
        const count = Number(body.count ?? 1);
        const { folder = 'inbox', count: _count, ...template } = body as { folder?: string; count?: number } & Partial<Message>;
        void _count;
        const added = mailboxApi(parts[1]).addMessages(folder, count, (i) => ({ ...template, ...(template.subject ? { subject: count > 1 ? `${template.subject} ${i + 1}` : template.subject } : {}) }));
        return reply(201, { value: added.map((m) => ({ id: m.id, subject: m.subject, internetMessageId: m.internetMessageId })) });
      }
      if (method === 'POST' && parts[0] === 'script' && parts.length === 2) {
        switch (parts[1]) {
          case 'throttle': script.throttle(body as unknown as Parameters<GraphFakeScript['throttle']>[0]); break;
          case 'expireDeltaTokens': script.expireDeltaTokens(body); break;
          case 'failNext':
            script.failNext({ ...(body as Parameters<GraphFakeScript['failNext']>[0]), path: typeof body.path === 'string' ? new RegExp(body.path) : undefined });
            break;
          case 'slow': script.slow(Number(body.ms ?? 0)); break;
          case 'duplicates': script.duplicates(body.on !== false); break;
          case 'reset': script.reset(); break;
          default: return reply(404, { error: `No script '${parts[1]}'.` });
        }
        return reply(200, { ok: true });
      }
      return reply(404, { error: `No control endpoint ${method} ${url.pathname}.` });
    } catch (err) {
      return reply(400, { error: (err as Error).message });
    }
  }

  return {
    graphBaseUrl: `${core.origin}/`,
    authorityHost: core.origin,
    port,
    tenantId: core.tenantId,
    clientId: defaultApp.clientId,
    clientSecret: defaultApp.clientSecret,
    certificate: certificates.client,
    caFile: certificates.caFile,
    users: core.users,
    addUser: (spec) => core.addUser(spec),
    addApp: (spec) => {
      const app = core.addApp(spec);
      return { clientId: app.clientId, clientSecret: app.clientSecret };
    },
    mailbox: mailboxApi,
    script,
    requestLog: core.requestLog,
    maxConcurrentSeen: (userId) => core.maxConcurrentSeen(userId),
    resetCounters: () => core.resetCounters(),
    revokeTokens: () => core.tokens.clear(),
    close: async () => {
      subscriptions.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}


function createMailboxApi(core: FakeCore, user: FakeUser, mailbox: Mailbox): FakeMailbox {
  const view = <T>(record: ItemRecord): T => render(record, { immutableIds: true }) as T;
  const folderFor = (key: string): Container => {
    const byName = [...mailbox.mailFolders.values()].find((f) => f.displayName === key);
    return byName ?? requireMailFolder(mailbox, key);
  };
  const find = (id: string, kind: ItemRecord['kind']): ItemRecord => {
    const record = core.store.findRecord(mailbox, id, kind);
    if (!record) throw new Error(`No ${kind} ${id} in ${user.mail}`);
    return record;
  };
  const folders = () => Object.fromEntries([...mailbox.mailFolders.values()].map((f) => [f.wellKnownName ?? f.displayName, { id: f.id, displayName: f.displayName }]));
  let counter = 0;
  const incoming = (index: number): Partial<Message> => ({
    subject: `Message ${index}`,
    from: { emailAddress: { name: 'Megan Bowen', address: 'megan.bowen@fabrikam.example' } },
    toRecipients: [{ emailAddress: { name: user.displayName, address: user.mail } }],
    body: { contentType: 'text', content: `Body of message ${index}.` },
  });
  const addMessage = (folder: string, message: Partial<Message> = {}, options: { singleValueExtendedProperties?: Array<{ id: string; value: string }> } = {}) => {
    const input = { ...incoming(++counter), ...message, ...options } as Record<string, unknown>;
    const target = folderFor(folder);
    return view<Message>(insertMessage(core, target, messageData(input, user, { isRead: false, isDraft: target.wellKnownName === 'drafts' }), input));
  };
  const api: FakeMailbox = {
    user,
    get folders() {
      return folders();
    },
    addFolder: (displayName, parent) => {
      const container = core.store.addContainer(mailbox, 'message', displayName, undefined, parent ? folderFor(parent).id : undefined);
      return { id: container.id, displayName };
    },
    addMessage,
    addMessages: (folder, count, template) => Array.from({ length: count }, (_, i) => addMessage(folder, template?.(i) ?? {})),
    update: (id, patch) => {
      const record = find(id, 'message');
      core.store.touch(record, patch as Record<string, unknown>);
      return view<Message>(record);
    },
    move: (id, folder) => view<Message>(core.store.move(find(id, 'message'), folderFor(folder))),
    delete: (id) => core.store.remove(find(id, 'message')),
    list: (folder) => [...folderFor(folder).items.values()].map((r) => view<Message>(r)),
    get: (id) => {
      const record = core.store.findRecord(mailbox, id, 'message');
      return record ? view<Message>(record) : undefined;
    },
    get contactFolders() {
      return Object.fromEntries([...mailbox.contactFolders.values()].map((f) => [f.wellKnownName ?? f.displayName, { id: f.id, displayName: f.displayName }]));
    },
    addContact: (contact, folder) => view<Contact>(core.store.insert(requireContactFolder(mailbox, folder ?? 'contacts'), contactData(contact as Record<string, unknown>))),
    updateContact: (id, patch) => {
      const record = find(id, 'contact');
      core.store.touch(record, contactData(patch as Record<string, unknown>, false));
      return view<Contact>(record);
    },
    deleteContact: (id) => core.store.remove(find(id, 'contact')),
    listContacts: (folder) => [...requireContactFolder(mailbox, folder ?? 'contacts').items.values()].map((r) => view<Contact>(r)),
    addEvent: (event) => {
      const record = core.store.insert(mailbox.calendar, eventData(event as Record<string, unknown>, user));
      applyExtendedProperties(record, event.singleValueExtendedProperties);
      if (record.data.recurrence) expandSeries(core, record);
      return view<Event>(record);
    },
    updateEvent: (id, patch) => {
      const record = find(id, 'event');
      changeEvent(core, record, eventData(patch as Record<string, unknown>, user, false));
      return view<Event>(record);
    },
    deleteEvent: (id) => removeEvent(core, find(id, 'event')),
    listEvents: () => [...mailbox.calendar.items.values()].map((r) => view<Event>(r)),
    taskLists: () => [...mailbox.todoLists.items.values()].map((r) => view<TodoTaskList>(r)),
    addTaskList: (displayName) => view<TodoTaskList>(core.store.addTaskList(mailbox, displayName).listRecord!),
    addTask: (listId, task) => {
      const list = mailbox.taskLists.get(listId);
      if (!list) throw new Error(`No To Do list ${listId}`);
      return view<TodoTask>(core.store.insert(list, taskData(task as Record<string, unknown>)));
    },
    updateTask: (id, patch) => {
      const record = find(id, 'todoTask');
      core.store.touch(record, taskData(patch as Record<string, unknown>, false));
      return view<TodoTask>(record);
    },
    deleteTask: (id) => core.store.remove(find(id, 'todoTask')),
    listTasks: (listId) => [...(mailbox.taskLists.get(listId)?.items.values() ?? [])].map((r) => view<TodoTask>(r)),
  };
  return api;
}
