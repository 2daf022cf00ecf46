import type { FastifyRequest } from 'fastify';
import type { RouteContext } from './context';
import { z } from 'zod';
import { RecordQuery } from '../../admin/crmSchemas';
import type { RecordStore } from '../../crm/crmRecords';
import { IdParams, errors } from '../responses';

/** What one CRM record resource needs: where it lives, its store, and its schemas. */
export interface RecordResource<New extends z.ZodObject, Patch extends z.ZodObject, Response extends z.ZodObject> {
  /** `/contacts` */
  path: string;
  tag: string;
  /** "contact" */
  noun: string;
  store: RecordStore<z.infer<Response>, New, Patch>;
  create: New;
  patch: Patch;
  response: Response;
}

/** Create, list (by email), read, change and delete: the same five routes for each CRM record type. Admin tokens only. */
export function registerRecordRoutes<New extends z.ZodObject, Patch extends z.ZodObject, Response extends z.ZodObject>(
  ctx: RouteContext,
  r: RecordResource<New, Patch, Response>,
): void {
  // The untyped router: the zod type provider cannot follow these generics. The schemas still validate.
  const { app } = ctx;
  const tags = [r.tag];
  const a = /^[aeiou]/.test(r.noun) ? `an ${r.noun}` : `a ${r.noun}`;
  const idOf = (request: FastifyRequest) => (request.params as z.infer<typeof IdParams>).id;

  app.post(
    r.path,
    { schema: { tags, summary: `Create ${a}`, body: r.create.strict(), response: { 201: r.response, ...errors(400, 401, 403, 409) } } },
    async (request, reply) => reply.code(201).send(await r.store.create(request.body as z.input<New>)),
  );

  app.get(
    r.path,
    {
      schema: {
        tags,
        summary: `List ${r.noun}s, oldest first (filter by email; page with limit and offset)`,
        querystring: RecordQuery.strict(),
        response: { 200: z.array(r.response), ...errors(400, 401, 403) },
      },
    },
    async (request) => r.store.list(request.query as z.input<typeof RecordQuery>),
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
        summary: `Change ${a} (null clears an optional field); sync resolves addresses against it from its next batch`,
        params: IdParams,
        body: r.patch,
        response: { 200: r.response, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => r.store.update(idOf(request), request.body as z.input<Patch>),
  );

  app.delete(
    `${r.path}/:id`,
    {
      schema: {
        tags,
        summary: `Delete ${a}; email activities that named it stay, with the party unresolved`,
        params: IdParams,
        response: { 204: z.undefined().describe('Deleted'), ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await r.store.delete(idOf(request));
      return reply.code(204).send();
    },
  );
}
