import type { RouteContext } from './context';
import { z } from 'zod';
import { NewUser, UserOptions } from '../../admin/schemas';
import { IdParams, UserResponse, errors } from '../responses';

/** CRM users. */
export function registerUserRoutes(ctx: RouteContext): void {
  const { api, service } = ctx;

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

  api.patch(
    '/users/:id',
    {
      schema: {
        tags: ['users'],
        summary: "Change a CRM user's sync options (tracking option, contacts for unknown senders)",
        params: IdParams,
        body: UserOptions.strict(),
        response: { 200: UserResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => service.updateUserOptions(request.params.id, request.body),
  );
}
