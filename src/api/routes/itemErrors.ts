import { z } from 'zod';
import { IdParams, errors } from '../responses';
import { ItemErrorQuery, ItemErrorResponse, ItemRetryRequest, ItemRetryResponse } from '../itemSyncResponses';
import type { RouteContext } from './context';

/** A mailbox's contacts, appointments and tasks that failed to sync, and retrying one now. */
export function registerItemErrorRoutes(ctx: RouteContext): void {
  const { api, service, mailboxFor } = ctx;

  api.get(
    '/mailboxes/:id/item-errors',
    {
      config: { access: 'user' },
      schema: {
        tags: ['mailboxes'],
        summary: "The mailbox's contacts, appointments and tasks that failed to sync: which, why, what to do, when",
        params: IdParams,
        querystring: ItemErrorQuery,
        response: { 200: z.array(ItemErrorResponse), ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const mailbox = await mailboxFor(request, request.params.id);
      return service.itemSync.errors(mailbox.id, request.query);
    },
  );

  api.post(
    '/mailboxes/:id/item-errors/retry',
    {
      config: { access: 'user' },
      schema: {
        tags: ['mailboxes'],
        summary: 'Retry a failed item now: the mailbox tries it again at once (a CRM record is written to Exchange although it did not change)',
        description:
          "Answers 202 with outcome pending when the mailbox has not run it yet (within waitSeconds), else 200 with the outcome: cleared, or failed with the new reason. " +
          'An item that has no error is 404 naming it; a mailbox whose items do not sync now is 409 (`details.reason`: items_disabled | awaiting_approval).',
        params: IdParams,
        body: ItemRetryRequest,
        response: { 200: ItemRetryResponse, 202: ItemRetryResponse, ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const mailbox = await mailboxFor(request, request.params.id);
      const { waitSeconds, ...item } = request.body;
      const result = await service.itemSync.retry(mailbox.id, item, waitSeconds * 1000);
      return reply.code(result.outcome === 'pending' ? 202 : 200).send(result);
    },
  );
}
