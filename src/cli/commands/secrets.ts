import { command } from '../command';

export const secretsCommands = [
  command({
    path: ['rotate-secrets'],
    summary: 'Re-encrypt stored secrets with the first key of SECRET_KEYS',
    options: {},
    run: async (_, ctx) => ({ output: { rotated: await (await ctx.admin()).rotateSecrets() } }),
  }),
];
