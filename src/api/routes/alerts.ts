import type { RouteContext } from './context';
import { z } from 'zod';
import { AlertQuery } from '../../admin/schemas';
import { AlertResponse, errors } from '../responses';

/** Alerts raised by the sync. */
export function registerAlertRoutes(ctx: RouteContext): void {
  const { api, service, principalOf, isAdmin, ownUserId } = ctx;

  api.get(
    '/alerts',
    {
      config: { access: 'user' },
      schema: {
        tags: ['alerts'],
        summary: 'Alerts, newest first; open ones unless status says otherwise (a user token: those addressed to its user as mailbox or profile owner)',
        querystring: AlertQuery.strict(),
        response: { 200: z.array(AlertResponse), ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      return isAdmin(principal) ? service.listAlerts(request.query) : service.listAlerts(request.query, ownUserId(request));
    },
  );
}
