import type { RouteContext } from './context';
import { z } from 'zod';
import { NotFoundError } from '../../admin/errors';
import { NewMailbox, UserOptions } from '../../admin/schemas';
import { MailboxResponse, MeResponse, OptionsResponse, errors } from '../responses';

/** What to do after a password change: the sync uses it from its next cycle, Test & Enable turns it back on. */
export const AFTER_PASSWORD_CHANGE =
  'The sync uses the new password from its next cycle. If the mailbox was disabled (a wrong password disables it), ' +
  'run Test & Enable on it to test the new password and turn sync back on.';

/** The caller: its token, its user and its own options. */
export function registerMeRoutes(ctx: RouteContext): void {
  const { api, service, principalOf, ownUserId } = ctx;

  api.get(
    '/me',
    { config: { access: 'user' }, schema: { tags: ['me'], summary: 'The token and the user it acts for', response: { 200: MeResponse, ...errors(401) } } },
    async (request) => {
      const { tokenId, role, userId } = principalOf(request);
      return { tokenId, role, userId, user: userId ? await service.getUser(userId) : null };
    },
  );

  api.get(
    '/me/options',
    {
      config: { access: 'user' },
      schema: { tags: ['me'], summary: "The caller's sync options", response: { 200: OptionsResponse, ...errors(401, 403, 404) } },
    },
    async (request) => {
      return service.getUser(ownUserId(request));
    },
  );

  api.patch(
    '/me/options',
    {
      config: { access: 'user' },
      schema: {
        tags: ['me'],
        summary: "Set the caller's sync options (which messages become CRM activities)",
        body: UserOptions.strict(),
        response: { 200: OptionsResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      return service.updateUserOptions(ownUserId(request), request.body);
    },
  );

  api.put(
    '/me/mailbox/password',
    {
      config: { access: 'user' },
      schema: {
        tags: ['me'],
        summary: "Change the password of the caller's own mailbox; the workflow re-reads the mailbox at once",
        body: NewMailbox.pick({ password: true }).strict(),
        response: { 200: z.object({ mailbox: MailboxResponse, next: z.string().describe('What to do next') }), ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const userId = ownUserId(request);
      const [own] = await service.listMailboxes({ ownerUserId: userId });
      if (!own) throw new NotFoundError('A mailbox for user', userId);
      return { mailbox: await service.updateMailbox(own.id, { password: request.body.password }), next: AFTER_PASSWORD_CHANGE };
    },
  );
}
