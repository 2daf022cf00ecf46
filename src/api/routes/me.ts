import type { RouteContext } from './context';
import { UserOptions } from '../../admin/schemas';
import { MeResponse, OptionsResponse, errors } from '../responses';

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
      const user = await service.getUser(ownUserId(request));
      return { trackingOption: user.trackingOption };
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
      const user = await service.updateUserOptions(ownUserId(request), request.body);
      return { trackingOption: user.trackingOption };
    },
  );
}
