import type { RouteContext } from './context';
import { z } from 'zod';

/** This OpenAPI document and the health check: no token needed. */
export function registerMetaRoutes(ctx: RouteContext): void {
  const { api, app } = ctx;

  api.get(
    '/openapi.json',
    { config: { access: 'public' }, schema: { tags: ['meta'], summary: 'This OpenAPI document', security: [] } },
    async () => app.swagger(),
  );

  api.get(
    '/healthz',
    {
      config: { access: 'public' },
      schema: { tags: ['meta'], summary: 'Liveness, for health checks', security: [], response: { 200: z.object({ status: z.literal('ok') }) } },
    },
    async () => ({ status: 'ok' as const }),
  );
}
