import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { Principal } from '../../admin/apiTokens';
import { ForbiddenError, NotFoundError } from '../../admin/errors';
import type { MailboxService, MailboxView } from '../../admin/mailboxService';
import type { LiveStatus } from '../responses';

const zodApi = (app: FastifyInstance) => app.withTypeProvider<ZodTypeProvider>();
export type ZodApi = ReturnType<typeof zodApi>;

/** What every route file gets: the typed router, the service, and the access checks they share. */
export interface RouteContext {
  app: FastifyInstance;
  api: ZodApi;
  service: MailboxService;
  principalOf(request: FastifyRequest): Principal;
  isAdmin(principal: Principal): boolean;
  /** The mailbox, when the caller may act on it: admins on any, users on their own (else 403, existing or not). */
  mailboxFor(request: FastifyRequest, id: string): Promise<MailboxView>;
  /** The workflow's live status, or null with the reason when it cannot be had. */
  liveStatusOf(request: FastifyRequest, id: string): Promise<{ live: z.infer<typeof LiveStatus>; liveError?: string }>;
  /** The CRM user the token acts for (403 for a token that acts for none). */
  ownUserId(request: FastifyRequest): string;
}

export function routeContext(app: FastifyInstance, service: MailboxService): RouteContext {
  const principalOf = (request: FastifyRequest): Principal => request.principal!;
  const isAdmin = (p: Principal) => p.role === 'admin';
  return {
    app,
    api: zodApi(app),
    service,
    principalOf,
    isAdmin,
    async mailboxFor(request, id) {
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
    },
    // When the live status cannot be had (Temporal down; a running workflow no worker answers within
    // the status query's deadline) the mailbox is still worth showing: it is shown without, saying why.
    async liveStatusOf(request, id) {
      try {
        return { live: (await service.liveStatus(id)) as z.infer<typeof LiveStatus> };
      } catch (err) {
        request.log.warn({ err, mailboxId: id }, 'the mailbox workflow did not answer its status query');
        return { live: null, liveError: `The mailbox workflow did not answer its status query (${(err as Error).message}); is the worker running?` };
      }
    },
    ownUserId(request) {
      const { userId } = principalOf(request);
      if (!userId) throw new ForbiddenError('This token does not act for a CRM user');
      return userId;
    },
  };
}
