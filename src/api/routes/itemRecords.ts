import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ItemStore } from '../../crm/crmItems';
import { IdParams, errors } from '../responses';
import type { RouteContext } from './context';

/** What one synced-item resource needs: where it lives, its store and schemas. */
export interface ItemResource<New extends z.ZodType, Patch extends z.ZodObject, Query extends z.ZodObject, Response extends z.ZodObject> {
  /** `/appointments` */
  path: string;
  tag: string;
  /** "appointment" */
  noun: string;
  store: ItemStore<z.infer<Response>, New, Patch, Query>;
  create: New;
  patch: Patch;
  query: Query;
  response: Response;
  /** What the list is ordered by, for its summary. */
  order: string;
}

/** Create, list, read, change and delete an appointment or a task. Admin tokens only. */
export function registerItemRoutes<New extends z.ZodType, Patch extends z.ZodObject, Query extends z.ZodObject, Response extends z.ZodObject>(
  ctx: RouteContext,
  r: ItemResource<New, Patch, Query, Response>,
): void {
  // The untyped router: the zod type provider cannot follow these generics. The schemas still validate.
  const { app } = ctx;
  const tags = [r.tag];
  const a = /^[aeiou]/.test(r.noun) ? `an ${r.noun}` : `a ${r.noun}`;
  const idOf = (request: FastifyRequest) => (request.params as z.infer<typeof IdParams>).id;

  app.post(
    r.path,
    { schema: { tags, summary: `Create ${a}`, body: r.create, response: { 201: r.response, ...errors(400, 401, 403, 404, 409) } } },
    async (request, reply) => reply.code(201).send(await r.store.create(request.body as z.input<New>)),
  );

  app.get(
    r.path,
    { schema: { tags, summary: `List ${r.noun}s, ${r.order}`, querystring: r.query.strict(), response: { 200: z.array(r.response), ...errors(400, 401, 403) } } },
    async (request) => r.store.list(request.query as z.input<Query>),
  );

  app.get(
    `${r.path}/:id`,
    { schema: { tags, summary: a.replace(/^a/, 'A'), params: IdParams, response: { 200: r.response, ...errors(400, 401, 403, 404) } } },
    async (request) => r.store.get(idOf(request)),
  );

  app.patch(
    `${r.path}/:id`,
    {
      schema: {
        tags,
        summary: `Change ${a} (null clears an optional field); logged in the change log, so sync carries it to the mailboxes it concerns`,
        params: IdParams,
        body: r.patch,
        response: { 200: r.response, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => r.store.update(idOf(request), request.body as z.input<Patch>),
  );

  app.delete(
    `${r.path}/:id`,
    { schema: { tags, summary: `Delete ${a}`, params: IdParams, response: { 204: z.undefined().describe('Deleted'), ...errors(400, 401, 403, 404) } } },
    async (request, reply) => {
      await r.store.delete(idOf(request));
      return reply.code(204).send();
    },
  );
}
