import { z } from 'zod';
import type { ItemServices } from '../../admin/itemServices';
import { FieldDirectionChange } from '../../admin/itemSchemas';
import { FieldDirectionResponse } from '../itemResponses';
import { errors } from '../responses';
import type { RouteContext } from './context';

/** Which way each synced field of contacts, appointments and tasks flows: Dynamics' defaults, changed by admins. */
export function registerFieldDirectionRoutes(ctx: RouteContext, items: ItemServices): void {
  const { api } = ctx;
  const tags = ['field directions'];

  api.get(
    '/field-directions',
    {
      // Users may see the mapping, as in Dynamics; only admins change it.
      config: { access: 'user' },
      schema: {
        tags,
        summary: 'Every synced field of each entity, with its direction, its default and the directions allowed',
        response: { 200: z.array(FieldDirectionResponse), ...errors(401) },
      },
    },
    async () => items.directions.list(),
  );

  api.patch(
    '/field-directions',
    {
      schema: {
        tags,
        summary: "Set one field's direction (default: back to Dynamics' default)",
        description: 'A fixed field, an unknown entity, field or direction is a 400 naming the values allowed. A one-way field is overwritten from its owning side.',
        body: FieldDirectionChange.strict(),
        response: { 200: FieldDirectionResponse, ...errors(400, 401, 403) },
      },
    },
    async (request) => items.directions.set(request.body),
  );
}
