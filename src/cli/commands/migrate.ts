import { migrateUp } from '../../db/migrate';
import { command } from '../command';

export const migrateCommands = [
  command({
    path: ['migrate'],
    summary: 'Apply pending database migrations',
    options: {},
    run: async (_, ctx) => ({ output: { applied: await migrateUp(ctx.config.databaseUrl, () => undefined) } }),
  }),
];
