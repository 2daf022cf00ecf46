import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ForbiddenError, InvalidRequestError } from '../../admin/errors';
import type { ItemServices } from '../../admin/itemServices';
import { FilterPreviewRequest, NewSyncFilter, PreviewQuery, SyncFilterPatch, SyncFilterQuery } from '../../admin/itemSchemas';
import { FILTER_OPERATORS } from '../../policy/syncFilters';
import { FilterPreviewResponse, SyncFilterResponse } from '../itemResponses';
import { IdParams, errors } from '../responses';
import type { RouteContext } from './context';

const RULES_HELP =
  'Rules: `{ "match": "all" | "any", "conditions": [...] }`; a condition is `{ "field", "op", "value" }` (or a nested group), op one of ' +
  `${FILTER_OPERATORS.join(', ')}. A user field takes \`{ "currentUser": true }\`; appointments also have \`organizer\` and \`attendee\` (users); ` +
  'relative-date takes `{ "from": days, "to": days }` from now. Bad rules are a 400 naming each problem and the fields allowed.';

/**
 * Users' sync filters: which contacts, appointments and tasks go to their mailbox. Admins act on
 * anyone's; a user token on its own user's only.
 */
export function registerSyncFilterRoutes(ctx: RouteContext, items: ItemServices): void {
  const { api, principalOf, isAdmin } = ctx;
  const tags = ['sync filters'];
  const { filters } = items;

  /** The user a request acts for: an admin names one, a user token is its own (naming another: 403). */
  const userFor = (request: FastifyRequest, named: string | undefined): string => {
    const principal = principalOf(request);
    if (isAdmin(principal)) {
      if (!named) throw new InvalidRequestError('Name the user whose filters these are: userId');
      return named;
    }
    if (!principal.userId) throw new ForbiddenError('This token does not act for a CRM user');
    if (named && named !== principal.userId) throw new ForbiddenError("A user token may only act on its own user's sync filters");
    return principal.userId;
  };
  const ownFilter = async (request: FastifyRequest, id: string) => {
    const filter = await filters.get(id);
    const principal = principalOf(request);
    if (!isAdmin(principal) && filter.userId !== principal.userId) throw new ForbiddenError("A user token may only act on its own user's sync filters");
    return filter;
  };

  api.get(
    '/sync-filters',
    {
      config: { access: 'user' },
      schema: {
        tags,
        summary: "Sync filters (a user token: its own user's)",
        querystring: SyncFilterQuery.strict(),
        response: { 200: z.array(SyncFilterResponse), ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const userId = isAdmin(principal) ? request.query.userId : userFor(request, request.query.userId);
      return filters.list({ ...request.query, userId });
    },
  );

  api.post(
    '/sync-filters',
    {
      config: { access: 'user' },
      schema: {
        tags,
        summary: 'Create a sync filter; several for one entity are a union',
        description: RULES_HELP,
        body: NewSyncFilter.strict(),
        response: { 201: SyncFilterResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => reply.code(201).send(await filters.create(userFor(request, request.body.userId), request.body)),
  );

  api.post(
    '/sync-filters/preview',
    {
      config: { access: 'user' },
      schema: {
        tags,
        summary: 'What unsaved rules would match now, with a count: try a filter before saving it',
        description: RULES_HELP,
        body: FilterPreviewRequest.strict(),
        response: { 200: FilterPreviewResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => filters.previewRules(userFor(request, request.body.userId), request.body),
  );

  api.get(
    '/sync-filters/:id',
    {
      config: { access: 'user' },
      schema: { tags, summary: 'A sync filter', params: IdParams, response: { 200: SyncFilterResponse, ...errors(400, 401, 403, 404) } },
    },
    async (request) => ownFilter(request, request.params.id),
  );

  api.get(
    '/sync-filters/:id/preview',
    {
      config: { access: 'user' },
      schema: {
        tags,
        summary: 'What a saved filter matches now (enabled or not), with a count',
        params: IdParams,
        querystring: PreviewQuery.strict(),
        response: { 200: FilterPreviewResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await ownFilter(request, request.params.id);
      return filters.preview(request.params.id, request.query.limit);
    },
  );

  api.patch(
    '/sync-filters/:id',
    {
      config: { access: 'user' },
      schema: {
        tags,
        summary: 'Rename, enable or disable a sync filter, or change its rules',
        description: `${RULES_HELP} Sync follows from its next cycle: records the filters no longer cover leave the mailbox.`,
        params: IdParams,
        body: SyncFilterPatch,
        response: { 200: SyncFilterResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await ownFilter(request, request.params.id);
      return filters.update(request.params.id, request.body);
    },
  );

  api.delete(
    '/sync-filters/:id',
    {
      config: { access: 'user' },
      schema: {
        tags,
        summary: 'Delete a sync filter (with none enabled for an entity, the entity does not sync for the user)',
        params: IdParams,
        response: { 204: z.undefined().describe('Deleted'), ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await ownFilter(request, request.params.id);
      await filters.delete(request.params.id);
      return reply.code(204).send();
    },
  );
}
