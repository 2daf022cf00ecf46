import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { MailboxService } from '../../admin/mailboxService';
import { projectRoot } from '../../projectRoot';

const DASHBOARD_DIR = path.join(projectRoot(), 'src', 'api', 'dashboard');
const ASSETS: Record<string, { file: string; type: string }> = {
  '/dashboard': { file: path.join(DASHBOARD_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: path.join(DASHBOARD_DIR, 'app.js'), type: 'text/javascript; charset=utf-8' },
  // The package exports no subpaths: find its dist folder through its main entry.
  '/dashboard/chart.js': { file: path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js'), type: 'text/javascript; charset=utf-8' },
};

/**
 * The monitoring dashboard: the page and its scripts are public (they hold no data); the summary
 * they read needs an admin token like every other route, and actions call the ordinary routes.
 */
export function registerDashboard(app: FastifyInstance, service: MailboxService): void {
  for (const [url, asset] of Object.entries(ASSETS)) {
    const body = readFileSync(asset.file);
    app.get(
      url,
      { config: { access: 'public' }, schema: { tags: ['dashboard'], summary: `Monitoring dashboard: ${path.basename(asset.file)}`, security: [] } },
      async (_request, reply) => reply.type(asset.type).send(body),
    );
  }
  app.get(
    '/dashboard/summary',
    {
      schema: {
        tags: ['dashboard'],
        summary: 'Mailboxes by state, failing mailboxes, sync lag, items per hour, connection use, syncs in progress and alerts',
      },
    },
    async () => service.dashboardSummary(),
  );
}
