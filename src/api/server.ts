import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { PayloadCodec } from '@temporalio/common';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { DatabaseError } from 'pg';
import { z } from 'zod';
import type { ApiTokens, Principal } from '../admin/apiTokens';
import { AdminError, ForbiddenError } from '../admin/errors';
import type { MailboxService } from '../admin/mailboxService';
import type { ItemServices } from '../admin/itemServices';
import type { OutgoingEmailService } from '../admin/outgoingEmailService';
import { markDatabaseError } from '../db/availability';
import { describeDatabaseError, isDatabaseUnavailable } from '../policy/databaseAvailability';
import type { CrmRecords } from '../crm/crmRecords';
import { registerDashboard } from './routes/dashboard';
import type { ErrorBody } from './responses';
import { registerAccountRoutes } from './routes/accounts';
import { registerAlertRoutes } from './routes/alerts';
import { registerAppointmentRoutes } from './routes/appointments';
import { DEFAULT_UI_ORIGIN, registerCodecCors, registerCodecRoutes, registerLocalUiCodecAccess } from './routes/codec';
import { registerContactRoutes } from './routes/contacts';
import { routeContext } from './routes/context';
import { registerEmailRoutes } from './routes/emails';
import { registerFieldDirectionRoutes } from './routes/fieldDirections';
import { registerLeadRoutes } from './routes/leads';
import { registerMailboxRoutes } from './routes/mailboxes';
import { registerItemErrorRoutes } from './routes/itemErrors';
import { registerMeRoutes } from './routes/me';
import { registerMetaRoutes } from './routes/meta';
import { registerOrganizationRoutes } from './routes/organization';
import { registerProfileRoutes } from './routes/profiles';
import { registerQueueRoutes } from './routes/queues';
import { registerSyncFilterRoutes } from './routes/syncFilters';
import { registerTaskRoutes } from './routes/tasks';
import { registerUserRoutes } from './routes/users';

/**
 * The admin HTTP API: JSON over MailboxService, every route a thin call to one of its methods. The
 * routes live in routes/, one file per resource; this file holds what they share: JSON parsing,
 * errors, authentication and the OpenAPI document.
 *
 * Authentication is `Authorization: Bearer <token>` (see ApiTokens) on every route but
 * `GET /openapi.json`, `GET /healthz` and the browsable document under `/docs`. Each route
 * declares who may call it (`config.access`):
 *  - `admin`: admin tokens only;
 *  - `user`: user tokens too, limited to what is theirs (their mailbox, their alerts, their options);
 *  - `public`: no token.
 * Errors are JSON `{ error, message, details? }`; bad input is always a 4xx, never a 500.
 */

export interface ApiServerDeps {
  service: MailboxService;
  tokens: ApiTokens;
  /** The CRM records (contacts, leads, accounts, email activities): their routes are served when given. */
  crm?: CrmRecords;
  /** Appointments, tasks, sync filters and field directions: their routes are served when given. */
  items?: ItemServices;
  /** Queues emails to be sent (POST /emails), with `crm`. */
  outgoing?: OutgoingEmailService;
  /** Serves Temporal UI's remote codec protocol at /codec/encode and /codec/decode when given. */
  codec?: PayloadCodec;
  /** Origin of the Temporal UI allowed to call the codec routes from the browser. */
  uiOrigin?: string;
  /**
   * Origins of a Temporal UI on this machine that may call the codec routes without a token, from
   * loopback (`npm start`'s dev server UI, which has no login). Only for an API listening on loopback.
   */
  localUiOrigins?: string[];
  /** true: log at info to stdout; or the logger to use (tests read its lines). */
  logger?: boolean | FastifyBaseLogger;
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

export { DEFAULT_UI_ORIGIN };

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
  503: 'service_unavailable',
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
  /** Sent as Retry-After. */
  retryAfterSeconds?: number;
}

// How soon a client may try again while the database is away (restart, failover).
const DATABASE_RETRY_AFTER_SECONDS = 5;

const errorReply = (status: number, message: string, details?: Record<string, unknown>): ErrorReply => ({
  status,
  body: { error: ERROR_CODES[status] ?? (status >= 500 ? 'internal' : 'bad_request'), message, ...(details ? { details } : {}) },
});

const issuePath = (path: PropertyKey[] | string) =>
  (typeof path === 'string' ? path.replace(/^\//, '').split('/').filter(Boolean) : path.map(String)).join('.');

/** Maps whatever a request raised to the status and body the client sees. Null: a real fault (500). */
function describeError(err: unknown): ErrorReply | null {
  if (err instanceof AdminError) return errorReply(err.statusCode, err.message, err.details);

  // The API talks to no mail server itself: a socket failure here is the database's. Its outage is
  // the deployment's, and passes: say so, and when to try again.
  if (isDatabaseUnavailable(markDatabaseError(err))) {
    return {
      ...errorReply(503, `The database is unavailable (${describeDatabaseError(err)}); try again in a few seconds`),
      retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS,
    };
  }

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
  const localUiOrigins = deps.localUiOrigins ?? [];
  const uiOrigins = [...new Set([deps.uiOrigin ?? DEFAULT_UI_ORIGIN, ...localUiOrigins])];

  const app = Fastify({
    ...(typeof deps.logger === 'object'
      ? { loggerInstance: deps.logger }
      : { logger: deps.logger ? { level: 'info', redact: ['req.headers.authorization'] } : false }),
    // Not fastify's two lines per request: one, from the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    return503OnClosing: true,
  });
  const routes: { method: string; url: string }[] = [];
  registeredRoutes.set(app, routes);
  app.addHook('onRoute', (r) => {
    // Hidden routes (the browsable document's page and assets) are not part of the API.
    if (r.schema?.hide) return;
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
    if (described?.retryAfterSeconds) reply.header('Retry-After', String(described.retryAfterSeconds));
    if (described) return reply.code(described.status).send(described.body);
    request.log.error({ err }, 'request failed');
    if (!deps.logger) process.stderr.write(`admin API: ${request.method} ${request.routeOptions.url ?? request.url}: ${(err as Error)?.stack ?? String(err)}\n`);
    return reply.code(500).send({ error: 'internal', message: 'Internal error' });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', message: `No route ${request.method} ${request.url.split('?')[0]}` }),
  );

  // A short line per request: method, route, status, time, the token's id (never the token).
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? request.url.split('?')[0];
    request.log.info(
      { method: request.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime), tokenId: request.principal?.tokenId },
      `${request.method} ${route} ${reply.statusCode} ${Math.round(reply.elapsedTime)}ms`,
    );
  });

  // CORS, for Temporal UI calling the codec routes from the browser: those two routes only.
  if (codec) registerCodecCors(app, uiOrigins);
  if (codec && localUiOrigins.length > 0) registerLocalUiCodecAccess(app, localUiOrigins);

  // Authentication, then the route's access level: before the body is even read. A principal set
  // already is the local Temporal UI's, on a codec route (registerLocalUiCodecAccess).
  app.addHook('onRequest', async (request, reply) => {
    if (request.is404 || request.principal) return;
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
          'Server profiles, CRM users and their mailboxes, sync control and alerts; the CRM records sync resolves against and the email ' +
          'activities it writes. Browsable at /docs. Every route but this document and /healthz needs ' +
          '`Authorization: Bearer <token>` (`npm run cli -- token create`). Admin tokens may do everything; user tokens ' +
          "may read and sync their own mailbox, change its password, read its email activities, send email as themselves, read their own alerts, set their own options and sync filters.",
        version: '1.0.0',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'users', description: 'CRM users' },
        { name: 'profiles', description: 'Email server profiles' },
        { name: 'mailboxes', description: 'Mailboxes and their sync' },
        { name: 'alerts', description: 'Alerts raised by the sync' },
        { name: 'organization', description: "The organisation's sync settings" },
        { name: 'me', description: 'The caller' },
        { name: 'contacts', description: 'CRM contacts (sync resolves email addresses against them)' },
        { name: 'leads', description: 'CRM leads' },
        { name: 'accounts', description: 'CRM accounts' },
        { name: 'appointments', description: 'CRM appointments: series, exceptions, attendees (synced two-way with mailboxes)' },
        { name: 'tasks', description: 'CRM tasks (synced two-way with mailboxes)' },
        { name: 'sync filters', description: "Which contacts, appointments and tasks go to each user's mailbox" },
        { name: 'field directions', description: 'Which way each synced field flows between the CRM and the mailboxes' },
        { name: 'emails', description: 'CRM email activities written by the sync, with their parties; emails queued to be sent' },
        { name: 'codec', description: 'Temporal remote codec (Temporal UI / CLI): admin tokens, and npm start\'s own Temporal UI from loopback' },
        { name: 'meta', description: 'This document and the health check' },
      ],
    },
    transform: jsonSchemaTransform,
  });
  // The document, browsable: Swagger UI served from the package (no CDN), public like the document itself.
  await app.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...route.config, access: 'public' };
    });
    await docs.register(fastifySwaggerUi, { routePrefix: '/docs' });
  });

  const ctx = routeContext(app, service);
  registerMetaRoutes(ctx);
  registerUserRoutes(ctx);
  registerProfileRoutes(ctx);
  registerMailboxRoutes(ctx);
  registerItemErrorRoutes(ctx);
  registerAlertRoutes(ctx);
  registerOrganizationRoutes(ctx);
  registerMeRoutes(ctx);
  if (deps.crm) {
    registerContactRoutes(ctx, deps.crm);
    registerLeadRoutes(ctx, deps.crm);
    registerAccountRoutes(ctx, deps.crm);
    registerQueueRoutes(ctx, deps.crm);
    registerEmailRoutes(ctx, deps.crm, deps.outgoing);
  }
  if (deps.items) {
    registerAppointmentRoutes(ctx, deps.items.records);
    registerTaskRoutes(ctx, deps.items.records);
    registerSyncFilterRoutes(ctx, deps.items);
    registerFieldDirectionRoutes(ctx, deps.items);
  }
  if (codec) registerCodecRoutes(ctx, codec, uiOrigins);
  registerDashboard(app, service);

  return app;
}
