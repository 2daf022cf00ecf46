import type { RouteContext } from './context';
import { z } from 'zod';
import { ForbiddenError } from '../../admin/errors';
import { MailboxPatch, MapRequest, NewMailbox } from '../../admin/schemas';
import {
  IdParams,
  LiveStatus,
  MailboxResponse,
  TestAndEnableResponse,
  errors,
} from '../responses';
import { MailboxWithItemSync, StatisticsWithItemSync } from '../itemSyncResponses';

const MailboxListQuery = z.strictObject({ ownerUserId: z.uuid().optional(), ownerQueueId: z.uuid().optional() });

/** Mailboxes and their sync: lifecycle, mapping, Test & Enable, sync now, statistics. */
export function registerMailboxRoutes(ctx: RouteContext): void {
  const { api, service, principalOf, isAdmin, ownUserId, mailboxFor, liveStatusOf } = ctx;

  api.post(
    '/mailboxes',
    {
      schema: {
        tags: ['mailboxes'],
        summary: 'Create a mailbox; when enabled its sync starts at once',
        description:
          'On an imap or pop3 profile the mailbox logs in with its own password. On an exchange_online profile it is a user of the tenant ' +
          '(graphUser: its object id; left out, the email address) and takes no password.',
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
      if (isAdmin(principal)) return service.listMailboxes(request.query);
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
        summary: "A mailbox, its statistics (contacts', appointments' and tasks' sync per entity too) and its workflow's live status",
        params: IdParams,
        response: { 200: MailboxWithItemSync, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const mailbox = await mailboxFor(request, request.params.id);
      const itemSync = await service.itemSync.status(mailbox.id);
      return { ...mailbox, statistics: { ...mailbox.statistics, itemSync }, ...(await liveStatusOf(request, mailbox.id)) };
    },
  );

  api.patch(
    '/mailboxes/:id',
    {
      schema: {
        tags: ['mailboxes'],
        summary: 'Change credentials, folders, polling interval or deletion after processing; the workflow re-reads the mailbox at once',
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
        summary: 'Map the mailbox to a user (userId) or a queue (queueId)',
        description:
          'When another user or queue holds the mailbox the answer is 409 naming it (`details.currentOwner`, and ' +
          '`details.currentUser` for a user); when the new owner holds another mailbox, 409 naming that mailbox. ' +
          'Send `details.confirmWith` (`confirm: true`) to break the old mapping. A queue holds only a mailbox for its own address.',
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
        summary: 'Sync the mailbox now (starting its workflow if needed), also while it backs off from errors',
        description:
          'A mailbox whose incoming sync cannot run (disabled, disabled by a failure, awaiting approval) gets 409 with the reason ' +
          '(`details.reason`: disabled | disabled_by_failure | awaiting_approval) and what to do.',
        params: IdParams,
        response: { 202: z.object({ mailboxId: z.uuid(), syncRequested: z.literal(true) }), ...errors(400, 401, 403, 404, 409) },
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
        summary: "The mailbox's sync statistics (itemSync: contacts', appointments' and tasks' per entity) and its workflow's live status",
        params: IdParams,
        response: { 200: StatisticsWithItemSync, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const mailbox = await service.getMailbox(request.params.id);
      return { ...mailbox.statistics, itemSync: await service.itemSync.status(mailbox.id), ...(await liveStatusOf(request, mailbox.id)) };
    },
  );
}
