import type { FastifyRequest } from 'fastify';
import type { RouteContext } from './context';
import { EmailActivityQuery } from '../../admin/crmSchemas';
import { ForbiddenError, NotFoundError } from '../../admin/errors';
import type { CrmRecords } from '../../crm/crmRecords';
import { EmailActivityPageResponse, EmailActivityResponse } from '../crmResponses';
import { IdParams, errors } from '../responses';

/** CRM email activities with their parties: admins see all; a user token, those of its own mailbox. */
export function registerEmailRoutes(ctx: RouteContext, crm: CrmRecords): void {
  const { api, service, principalOf, isAdmin, ownUserId, mailboxFor } = ctx;

  /** The caller's own mailbox id (user tokens); a user without a mailbox has no activities to see. */
  const ownMailboxId = async (request: FastifyRequest): Promise<string> => {
    const [own] = await service.listMailboxes({ ownerUserId: ownUserId(request) });
    if (!own) throw new ForbiddenError('A user token may only see the email activities of its own mailbox, and this user has none');
    return own.id;
  };

  api.get(
    '/emails',
    {
      config: { access: 'user' },
      schema: {
        tags: ['emails'],
        summary: 'Email activities with their parties, newest first (a user token: those of its own mailbox)',
        description: 'Filter by mailbox, party address and date; page with `limit` and the `nextCursor` of the previous page.',
        querystring: EmailActivityQuery.strict(),
        response: { 200: EmailActivityPageResponse, ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      if (isAdmin(principalOf(request))) return crm.emails.list(request.query);
      const mailboxId = request.query.mailboxId ? (await mailboxFor(request, request.query.mailboxId)).id : await ownMailboxId(request);
      return crm.emails.list({ ...request.query, mailboxId });
    },
  );

  api.get(
    '/emails/:id',
    {
      config: { access: 'user' },
      schema: {
        tags: ['emails'],
        summary: 'An email activity: the message, its parties and the mailboxes it came from',
        params: IdParams,
        response: { 200: EmailActivityResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      if (isAdmin(principalOf(request))) return crm.emails.get(request.params.id);
      // As with mailboxes: an activity that does not exist looks the same as another mailbox's.
      const [mailboxId, activity] = await Promise.all([
        ownMailboxId(request),
        crm.emails.get(request.params.id).catch((err) => {
          if (err instanceof NotFoundError) return null;
          throw err;
        }),
      ]);
      if (!activity || !activity.mailboxIds.includes(mailboxId)) {
        throw new ForbiddenError("A user token may only see the email activities of its own mailbox");
      }
      return activity;
    },
  );
}
