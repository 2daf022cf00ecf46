import fastifySwagger from '@fastify/swagger';
import type { PayloadCodec } from '@temporalio/common';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { DatabaseError } from 'pg';
import { z } from 'zod';
import type { ApiTokens, Principal } from '../admin/apiTokens';
import { AdminError, ForbiddenError, NotFoundError } from '../admin/errors';
import { registerDashboard } from './dashboardRoutes';
import type { MailboxService, MailboxView } from '../admin/mailboxService';
import { AlertQuery, MailboxPatch, MapRequest, NewMailbox, NewProfile, NewUser, ProfilePatch, UserOptions } from '../admin/schemas';
import { TRACKING_OPTIONS } from '../policy/tracking';
import { handleCodecRequest } from '../temporal/codecServer';

/**
 * The admin HTTP API: JSON over MailboxService, every route a thin call to one of its methods.
 *
 * Authentication is `Authorization: Bearer <token>` (see ApiTokens) on every route but
 * `GET /openapi.json` and `GET /healthz`. Each route declares who may call it (`config.access`):
 *  - `admin`: admin tokens only;
 *  - `user`: user tokens too, limited to what is theirs (their mailbox, their alerts, their options);
 *  - `public`: no token.
 * Errors are JSON `{ error, message, details? }`; bad input is always a 4xx, never a 500.
 */

export interface ApiServerDeps {
  service: MailboxService;
  tokens: ApiTokens;
  /** Serves Temporal UI's remote codec protocol at /codec/encode and /codec/decode when given. */
  codec?: PayloadCodec;
  /** Origin of the Temporal UI allowed to call the codec routes from the browser. */
  uiOrigin?: string;
  logger?: boolean;
}

type Access = 'admin' | 'user' | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route; routes that do not say are admin-only. */
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export const DEFAULT_UI_ORIGIN = 'http://localhost:8233';
const CODEC_PATHS = new Set(['/codec/encode', '/codec/decode']);
const CODEC_BODY_LIMIT = 16 * 1024 * 1024;

// Responses ------------------------------------------------------------------
// They document the API and, being zod objects, drop any field they do not name: a column added
// to a view (a credential, say) never reaches a client unless it is added here. test/api.test.ts
// checks that every field of the service's views (UserView, ProfileView, MailboxView, AlertView)
// is named here, so a field added to a view fails that test until it is added here too.

const ErrorBody = z.object({
  error: z.string().describe('A stable code: bad_request, unauthorized, forbidden, not_found, conflict, ...'),
  message: z.string().describe('What went wrong, for a person'),
  details: z.record(z.string(), z.unknown()).optional(),
});

const errors = (...codes: (400 | 401 | 403 | 404 | 409 | 422)[]) =>
  Object.fromEntries(codes.map((c) => [c, ErrorBody])) as Record<400 | 401 | 403 | 404 | 409 | 422, typeof ErrorBody>;

const UserResponse = z.object({
  id: z.uuid(),
  fullName: z.string(),
  email: z.string(),
  trackingOption: z.string().describe(TRACKING_OPTIONS.join(' | ')),
  createdAt: z.date(),
});

const security = z.string().describe('none | starttls | tls');
const ProfileResponse = z.object({
  id: z.uuid(),
  name: z.string(),
  serverType: z.string().describe('imap | pop3 | exchange_online'),
  incomingHost: z.string().nullable(),
  incomingPort: z.number().int().nullable(),
  incomingSecurity: security,
  outgoingHost: z.string().nullable(),
  outgoingPort: z.number().int().nullable(),
  outgoingSecurity: security,
  maxConcurrentConnections: z.number().int(),
  minPollingIntervalSeconds: z.number().int(),
  processEmailFrom: z.date().nullable(),
  connectionTimeoutSeconds: z.number().int(),
  maxMessageBytes: z.number().int(),
  ownerUserId: z.uuid().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

const DirectionResponse = z.object({
  enabled: z.boolean(),
  status: z.string().describe('not_run | success | failure'),
  testedAt: z.date().nullable(),
  message: z.string().nullable(),
});

const StatisticsResponse = z.object({
  lastSyncStartedAt: z.date().nullable(),
  lastSyncCompletedAt: z.date().nullable(),
  lastSuccessAt: z.date().nullable(),
  itemsProcessedLastCycle: z.number().int(),
  itemsFailedLastCycle: z.number().int(),
  consecutiveErrors: z.number().int(),
  nextSyncAt: z.date().nullable(),
  lastError: z.string().nullable(),
  lastErrorAt: z.date().nullable(),
});

const MailboxResponse = z.object({
  id: z.uuid(),
  emailAddress: z.string(),
  profileId: z.uuid(),
  ownerUserId: z.uuid().nullable(),
  username: z.string().nullable(),
  folders: z.array(z.string()),
  emailApproved: z.boolean(),
  mappingVersion: z.number().int(),
  minPollingIntervalSeconds: z.number().int().nullable(),
  incoming: DirectionResponse,
  outgoing: DirectionResponse,
  items: DirectionResponse,
  statistics: StatisticsResponse,
  progress: z
    .object({
      folder: z.string(),
      itemsDone: z.number().int(),
      itemsTotal: z.number().int(),
      startedAt: z.string().nullable().describe('ISO 8601'),
      updatedAt: z.string().nullable().describe('ISO 8601'),
    })
    .nullable()
    .describe("The running sync's progress (long initial syncs), or null between cycles"),
  createdAt: z.date(),
  updatedAt: z.date(),
});

const LiveStatus = z
  .looseObject({ mailboxId: z.string(), state: z.string() })
  .nullable()
  .describe("The mailbox workflow's live status (its `status` query), or null when the workflow is not running");

const LiveError = z
  .string()
  .optional()
  .describe('Present when the workflow could not be asked (Temporal unreachable, no worker answering); `live` is then null');
const MailboxWithLive = MailboxResponse.extend({ live: LiveStatus, liveError: LiveError });
const StatisticsWithLive = StatisticsResponse.extend({ live: LiveStatus, liveError: LiveError });

const DirectionResult = z.object({
  status: z.string().describe('success | failure | not_run ...'),
  message: z.string(),
  testedAt: z.string().describe('ISO 8601'),
});
const TestAndEnableResponse = z.object({
  incoming: DirectionResult,
  outgoing: DirectionResult,
  items: DirectionResult,
  incomingEnabled: z.boolean(),
  outgoingEnabled: z.boolean(),
});

const AlertResponse = z.object({
  id: z.number().int(),
  level: z.string().describe('error | warning | information'),
  scope: z.string(),
  audience: z.string(),
  mailboxId: z.uuid().nullable(),
  profileId: z.uuid().nullable(),
  userId: z.uuid().nullable(),
  message: z.string(),
  createdAt: z.date(),
});

const MeResponse = z.object({
  tokenId: z.uuid(),
  role: z.enum(['admin', 'user']),
  userId: z.uuid().nullable(),
  user: UserResponse.nullable(),
});

const OptionsResponse = z.object({ trackingOption: z.string().describe(TRACKING_OPTIONS.join(' | ')) });

const JsonPayload = z.object({
  metadata: z.record(z.string(), z.string().describe('base64')).optional(),
  data: z.string().describe('base64').optional(),
});
const CodecBody = z.object({ payloads: z.array(JsonPayload) });

// Requests -------------------------------------------------------------------
// The admin schemas, strict: a misspelt field is an error rather than silently ignored.

const IdParams = z.strictObject({ id: z.uuid() });
const MailboxListQuery = z.strictObject({ ownerUserId: z.uuid().optional() });

// Errors -----------------------------------------------------------------------

const ERROR_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  409: 'conflict',
  411: 'length_required',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'too_many_requests',
  431: 'headers_too_large',
};

const VALIDATION_CONTEXT: Record<string, string> = {
  body: 'request body',
  params: 'path parameters',
  querystring: 'query string',
  headers: 'headers',
};

interface ErrorReply {
  status: number;
  body: z.infer<typeof ErrorBody>;
}

const errorReply = (status: number, message: string, details?: Record<string, unknown>): ErrorReply => ({
  status,
  body: { error: ERROR_CODES[status] ?? (status >= 500 ? 'internal' : 'bad_request'), message, ...(details ? { details } : {}) },
});

const issuePath = (path: PropertyKey[] | string) =>
  (typeof path === 'string' ? path.replace(/^\//, '').split('/').filter(Boolean) : path.map(String)).join('.');

/** Maps whatever a request raised to the status and body the client sees. Null: a real fault (500). */
function describeError(err: unknown): ErrorReply | null {
  if (err instanceof AdminError) return errorReply(err.statusCode, err.message, err.details);

  const e = err as FastifyError;
  if (hasZodFastifySchemaValidationErrors(e) || Array.isArray(e.validation)) {
    const where = VALIDATION_CONTEXT[e.validationContext ?? ''] ?? 'request';
    const problems = (e.validation ?? []).map((v) => {
      const path = issuePath(v.instancePath ?? '');
      return path ? `${path}: ${v.message}` : v.message;
    });
    return errorReply(400, `Invalid ${where}: ${problems.join('; ')}`);
  }

  if (err instanceof z.ZodError) {
    return errorReply(400, `Invalid input: ${err.issues.map((i) => `${issuePath(i.path) || 'value'}: ${i.message}`).join('; ')}`);
  }

  // Values the schemas let through but the database refuses: an integer beyond its column, a NUL
  // in a text, a date out of PostgreSQL's range, a reference to a record that does not exist.
  if (err instanceof DatabaseError && err.code) {
    if (err.code.startsWith('22')) return errorReply(400, `Invalid value: ${err.message}`);
    if (err.code === '23503') return errorReply(400, 'The request refers to a record that does not exist');
    if (err.code === '23505') return errorReply(409, 'A record with the same unique value exists already');
    if (err.code === '23502' || err.code === '23514') return errorReply(400, `Invalid value: ${err.message}`);
    return null;
  }

  // Fastify's own client errors: malformed or empty JSON, unsupported media type, body too large, ...
  if (typeof e.code === 'string' && e.code.startsWith('FST_') && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return errorReply(e.statusCode, e.message);
  }
  return null;
}

function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header.trim());
  return match ? match[1] : null;
}

// The server ---------------------------------------------------------------------

/** Routes of each server, as registered (method and URL): the tests check each has a row. */
const registeredRoutes = new WeakMap<FastifyInstance, { method: string; url: string }[]>();

export function apiRoutes(app: FastifyInstance): { method: string; url: string }[] {
  return [...(registeredRoutes.get(app) ?? [])];
}

export async function buildApiServer(deps: ApiServerDeps): Promise<FastifyInstance> {
  const { service, tokens, codec } = deps;
  const uiOrigin = deps.uiOrigin ?? DEFAULT_UI_ORIGIN;

  const app = Fastify({
    logger: deps.logger ? { level: 'info', redact: ['req.headers.authorization'] } : false,
    exposeHeadRoutes: false,
    return503OnClosing: true,
  });
  const routes: { method: string; url: string }[] = [];
  registeredRoutes.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest('principal', null);

  // JSON only. An empty body with a JSON content type counts as no body (clients that always send
  // the header on POST); the body schema, where there is one, then says what is missing.
  app.removeContentTypeParser('text/plain');
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if ((body as string).trim() === '') done(null, undefined);
    else defaultJson(request, body as string, done);
  });

  app.setErrorHandler((err, request, reply) => {
    const described = describeError(err);
    if (described) return reply.code(described.status).send(described.body);
    request.log.error({ err }, 'request failed');
    if (!deps.logger) process.stderr.write(`admin API: ${request.method} ${request.routeOptions.url ?? request.url}: ${(err as Error)?.stack ?? String(err)}\n`);
    return reply.code(500).send({ error: 'internal', message: 'Internal error' });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', message: `No route ${request.method} ${request.url.split('?')[0]}` }),
  );

  // CORS, for Temporal UI calling the codec routes from the browser: those two routes only.
  if (codec) {
    app.addHook('onRequest', async (request, reply) => {
      if (!CODEC_PATHS.has(request.url.split('?')[0])) return;
      reply.header('Access-Control-Allow-Origin', uiOrigin);
      reply.header('Access-Control-Allow-Credentials', 'true');
      reply.header('Access-Control-Allow-Headers', 'content-type,x-namespace,authorization');
      reply.header('Access-Control-Allow-Methods', 'POST, OPTIONS');
      reply.header('Vary', 'Origin');
      if (request.method === 'OPTIONS') {
        reply.header('Access-Control-Max-Age', '600');
        return reply.code(204).send();
      }
    });
  }

  // Authentication, then the route's access level: before the body is even read.
  app.addHook('onRequest', async (request, reply) => {
    if (request.is404) return;
    const access = request.routeOptions.config.access ?? 'admin';
    if (access === 'public') return;
    const token = bearerToken(request);
    if (!token) {
      reply.header('WWW-Authenticate', 'Bearer');
      throw new AdminError('An API token is needed: send "Authorization: Bearer <token>"', 401);
    }
    const principal = await tokens.authenticate(token);
    if (!principal) {
      reply.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      throw new AdminError('The API token is not valid or has been revoked', 401);
    }
    if (access === 'admin' && principal.role !== 'admin') {
      throw new ForbiddenError(`Only an admin token may call ${request.method} ${request.routeOptions.url}`);
    }
    request.principal = principal;
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'CRM mail sync: admin API',
        description:
          'Server profiles, CRM users and their mailboxes, sync control and alerts. Every route but this document and /healthz needs ' +
          '`Authorization: Bearer <token>` (`npm run cli -- token create`). Admin tokens may do everything; user tokens ' +
          'may read and sync their own mailbox, read their own alerts and set their own options.',
        version: '1.0.0',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'users', description: 'CRM users' },
        { name: 'profiles', description: 'Email server profiles' },
        { name: 'mailboxes', description: 'Mailboxes and their sync' },
        { name: 'alerts', description: 'Alerts raised by the sync' },
        { name: 'me', description: 'The caller' },
        { name: 'codec', description: 'Temporal remote codec (Temporal UI / CLI), admin tokens only' },
        { name: 'meta', description: 'This document and the health check' },
      ],
    },
    transform: jsonSchemaTransform,
  });

  const api = app.withTypeProvider<ZodTypeProvider>();
  const principalOf = (request: FastifyRequest): Principal => request.principal!;
  const isAdmin = (p: Principal) => p.role === 'admin';

  /** The mailbox, when the caller may act on it: admins on any, users on their own (else 403, existing or not). */
  async function mailboxFor(request: FastifyRequest, id: string): Promise<MailboxView> {
    const principal = principalOf(request);
    if (isAdmin(principal)) return service.getMailbox(id);
    const mailbox = await service.getMailbox(id).catch((err) => {
      if (err instanceof NotFoundError) return null;
      throw err;
    });
    if (!mailbox || mailbox.ownerUserId === null || mailbox.ownerUserId !== principal.userId) {
      throw new ForbiddenError('A user token may only act on its own mailbox');
    }
    return mailbox;
  }

  /**
   * The workflow's live status. When it cannot be had (Temporal down; a running workflow no worker
   * answers within the status query's deadline) the mailbox is still worth showing: it is shown
   * without, saying why.
   */
  async function liveStatusOf(request: FastifyRequest, id: string): Promise<{ live: z.infer<typeof LiveStatus>; liveError?: string }> {
    try {
      return { live: (await service.liveStatus(id)) as z.infer<typeof LiveStatus> };
    } catch (err) {
      request.log.warn({ err, mailboxId: id }, 'the mailbox workflow did not answer its status query');
      return { live: null, liveError: `The mailbox workflow did not answer its status query (${(err as Error).message}); is the worker running?` };
    }
  }

  function ownUserId(request: FastifyRequest): string {
    const { userId } = principalOf(request);
    if (!userId) throw new ForbiddenError('This token does not act for a CRM user');
    return userId;
  }

  // Meta -----------------------------------------------------------------------------

  api.get(
    '/openapi.json',
    { config: { access: 'public' }, schema: { tags: ['meta'], summary: 'This OpenAPI document', security: [] } },
    async () => app.swagger(),
  );

  api.get(
    '/healthz',
    {
      config: { access: 'public' },
      schema: { tags: ['meta'], summary: 'Liveness, for health checks', security: [], response: { 200: z.object({ status: z.literal('ok') }) } },
    },
    async () => ({ status: 'ok' as const }),
  );

  // Users ----------------------------------------------------------------------------

  api.post(
    '/users',
    {
      schema: { tags: ['users'], summary: 'Create a CRM user', body: NewUser.strict(), response: { 201: UserResponse, ...errors(400, 401, 403, 409) } },
    },
    async (request, reply) => reply.code(201).send(await service.createUser(request.body)),
  );

  api.get(
    '/users',
    { schema: { tags: ['users'], summary: 'List CRM users', response: { 200: z.array(UserResponse), ...errors(401, 403) } } },
    async () => service.listUsers(),
  );

  api.get(
    '/users/:id',
    { schema: { tags: ['users'], summary: 'A CRM user', params: IdParams, response: { 200: UserResponse, ...errors(400, 401, 403, 404) } } },
    async (request) => service.getUser(request.params.id),
  );

  // Server profiles ------------------------------------------------------------------

  api.post(
    '/profiles',
    {
      schema: {
        tags: ['profiles'],
        summary: 'Create an email server profile',
        body: NewProfile.strict(),
        response: { 201: ProfileResponse, ...errors(400, 401, 403, 409) },
      },
    },
    async (request, reply) => reply.code(201).send(await service.createProfile(request.body)),
  );

  api.get(
    '/profiles',
    { schema: { tags: ['profiles'], summary: 'List email server profiles', response: { 200: z.array(ProfileResponse), ...errors(401, 403) } } },
    async () => service.listProfiles(),
  );

  api.get(
    '/profiles/:id',
    { schema: { tags: ['profiles'], summary: 'An email server profile', params: IdParams, response: { 200: ProfileResponse, ...errors(400, 401, 403, 404) } } },
    async (request) => service.getProfile(request.params.id),
  );

  api.patch(
    '/profiles/:id',
    {
      schema: {
        tags: ['profiles'],
        summary: "Change a profile; its mailboxes use the change from their next cycle",
        params: IdParams,
        body: ProfilePatch,
        response: { 200: ProfileResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => service.updateProfile(request.params.id, request.body),
  );

  api.delete(
    '/profiles/:id',
    {
      schema: {
        tags: ['profiles'],
        summary: 'Delete a profile that no mailbox uses',
        params: IdParams,
        response: { 204: z.undefined().describe('Deleted'), ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await service.deleteProfile(request.params.id);
      return reply.code(204).send();
    },
  );

  // Mailboxes ------------------------------------------------------------------------

  api.post(
    '/mailboxes',
    {
      schema: {
        tags: ['mailboxes'],
        summary: 'Create a mailbox; when enabled its sync starts at once',
        body: NewMailbox.strict(),
        response: { 201: MailboxResponse, ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => reply.code(201).send(await service.createMailbox(request.body)),
  );

  api.get(
    '/mailboxes',
    {
      config: { access: 'user' },
      schema: {
        tags: ['mailboxes'],
        summary: 'List mailboxes (a user token: its own)',
        querystring: MailboxListQuery,
        response: { 200: z.array(MailboxResponse), ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      if (isAdmin(principal)) return service.listMailboxes({ ownerUserId: request.query.ownerUserId });
      if (request.query.ownerUserId && request.query.ownerUserId !== principal.userId) {
        throw new ForbiddenError("A user token may only list its own mailboxes");
      }
      return service.listMailboxes({ ownerUserId: ownUserId(request) });
    },
  );

  api.get(
    '/mailboxes/:id',
    {
      config: { access: 'user' },
      schema: {
        tags: ['mailboxes'],
        summary: "A mailbox, its statistics and its workflow's live status",
        params: IdParams,
        response: { 200: MailboxWithLive, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const mailbox = await mailboxFor(request, request.params.id);
      return { ...mailbox, ...(await liveStatusOf(request, mailbox.id)) };
    },
  );

  api.patch(
    '/mailboxes/:id',
    {
      schema: {
        tags: ['mailboxes'],
        summary: 'Change credentials, folders or polling interval; the workflow re-reads the mailbox at once',
        params: IdParams,
        body: MailboxPatch,
        response: { 200: MailboxResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => service.updateMailbox(request.params.id, request.body),
  );

  api.delete(
    '/mailboxes/:id',
    {
      schema: {
        tags: ['mailboxes'],
        summary: 'Delete a mailbox (its CRM email activities stay)',
        params: IdParams,
        response: { 204: z.undefined().describe('Deleted'), ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await service.deleteMailbox(request.params.id);
      return reply.code(204).send();
    },
  );

  api.post(
    '/mailboxes/:id/map',
    {
      schema: {
        tags: ['mailboxes'],
        summary: 'Map the mailbox to a user',
        description:
          'When another user holds the mailbox the answer is 409 naming that user (`details.currentUser`); ' +
          'send `details.confirmWith` (`confirm: true`) to take it from them.',
        params: IdParams,
        body: MapRequest.strict(),
        response: { 200: MailboxResponse, ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request) => service.mapMailbox(request.params.id, request.body),
  );

  api.post(
    '/mailboxes/:id/approve',
    {
      schema: {
        tags: ['mailboxes'],
        summary: "Approve the mailbox's email address",
        params: IdParams,
        response: { 200: MailboxResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => service.approveMailbox(request.params.id),
  );

  api.post(
    '/mailboxes/:id/enable',
    {
      schema: {
        tags: ['mailboxes'],
        summary: 'Turn incoming sync back on without testing',
        params: IdParams,
        response: { 200: MailboxResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => service.enableMailbox(request.params.id),
  );

  api.post(
    '/mailboxes/:id/disable',
    {
      schema: {
        tags: ['mailboxes'],
        summary: 'Stop incoming sync; answers once the workflow is parked',
        params: IdParams,
        response: {
          200: z.object({ mailbox: MailboxResponse, workflow: LiveStatus }),
          ...errors(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const { mailbox, workflow } = await service.disableMailbox(request.params.id);
      return { mailbox, workflow: workflow as z.infer<typeof LiveStatus> };
    },
  );

  api.post(
    '/mailboxes/:id/test-and-enable',
    {
      config: { access: 'user' },
      schema: {
        tags: ['mailboxes'],
        summary: 'Test each direction against the mail server and enable those that pass',
        params: IdParams,
        response: { 200: TestAndEnableResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const mailbox = await mailboxFor(request, request.params.id);
      return service.testAndEnable(mailbox.id);
    },
  );

  api.post(
    '/mailboxes/:id/sync-now',
    {
      config: { access: 'user' },
      schema: {
        tags: ['mailboxes'],
        summary: 'Sync the mailbox now (starting its workflow if needed)',
        params: IdParams,
        response: { 202: z.object({ mailboxId: z.uuid(), syncRequested: z.literal(true) }), ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const mailbox = await mailboxFor(request, request.params.id);
      await service.syncNow(mailbox.id);
      return reply.code(202).send({ mailboxId: mailbox.id, syncRequested: true as const });
    },
  );

  api.get(
    '/mailboxes/:id/statistics',
    {
      schema: {
        tags: ['mailboxes'],
        summary: "The mailbox's sync statistics and its workflow's live status",
        params: IdParams,
        response: { 200: StatisticsWithLive, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const mailbox = await service.getMailbox(request.params.id);
      return { ...mailbox.statistics, ...(await liveStatusOf(request, mailbox.id)) };
    },
  );

  // Alerts ---------------------------------------------------------------------------

  api.get(
    '/alerts',
    {
      config: { access: 'user' },
      schema: {
        tags: ['alerts'],
        summary: 'Alerts, newest first (a user token: those meant for its user)',
        querystring: AlertQuery.strict(),
        response: { 200: z.array(AlertResponse), ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      return isAdmin(principal) ? service.listAlerts(request.query) : service.listAlerts(request.query, ownUserId(request));
    },
  );

  // The caller -------------------------------------------------------------------------

  api.get(
    '/me',
    { config: { access: 'user' }, schema: { tags: ['me'], summary: 'The token and the user it acts for', response: { 200: MeResponse, ...errors(401) } } },
    async (request) => {
      const { tokenId, role, userId } = principalOf(request);
      return { tokenId, role, userId, user: userId ? await service.getUser(userId) : null };
    },
  );

  api.get(
    '/me/options',
    {
      config: { access: 'user' },
      schema: { tags: ['me'], summary: "The caller's sync options", response: { 200: OptionsResponse, ...errors(401, 403, 404) } },
    },
    async (request) => {
      const user = await service.getUser(ownUserId(request));
      return { trackingOption: user.trackingOption };
    },
  );

  api.patch(
    '/me/options',
    {
      config: { access: 'user' },
      schema: {
        tags: ['me'],
        summary: "Set the caller's sync options (which messages become CRM activities)",
        body: UserOptions.strict(),
        response: { 200: OptionsResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const user = await service.updateUserOptions(ownUserId(request), request.body);
      return { trackingOption: user.trackingOption };
    },
  );

  // Temporal remote codec ----------------------------------------------------------------

  if (codec) {
    for (const operation of ['encode', 'decode'] as const) {
      api.post(
        `/codec/${operation}`,
        {
          bodyLimit: CODEC_BODY_LIMIT,
          // The body schema documents the protocol; handleCodecRequest validates it.
          validatorCompiler: () => (data) => ({ value: data }),
          serializerCompiler: () => (data) => JSON.stringify(data),
          schema: {
            tags: ['codec'],
            summary: `Temporal remote codec: ${operation} payloads`,
            description:
              'The protocol of Temporal UI and `temporal --codec-endpoint`. The optional `X-Namespace` header is accepted. ' +
              `CORS is answered for ${uiOrigin}.`,
            headers: z.looseObject({ 'x-namespace': z.string().optional() }),
            body: CodecBody,
            response: { 200: CodecBody, ...errors(400, 401, 403, 422) },
          },
        },
        async (request) => {
          try {
            return await handleCodecRequest(codec, operation, request.body);
          } catch (err) {
            if ((err as { statusCode?: number }).statusCode === 400) throw new AdminError((err as Error).message, 400);
            if (operation === 'decode') throw new AdminError(`The payloads could not be decoded: ${(err as Error).message}`, 422);
            throw err;
          }
        },
      );
    }
  }

  registerDashboard(app, service);

  return app;
}
