import { DIRECTION_ENTITIES, DIRECTIONS } from '../../policy/fieldDirections';
import { command } from '../command';

export const fieldDirectionCommands = [
  command({
    path: ['field-direction', 'list'],
    summary: 'Every synced field of contacts, appointments and tasks: its direction, default and the directions allowed',
    options: { entity: { type: 'string', placeholder: DIRECTION_ENTITIES.join('|'), description: 'only this entity' } },
    run: async ({ opts }, ctx) => ({
      output: (await (await ctx.items()).directions.list()).filter((d) => opts.entity === undefined || d.entity === opts.entity),
    }),
  }),
  command({
    path: ['field-direction', 'set'],
    summary: "Set one field's direction for the organisation",
    details: [
      `DIRECTION: ${DIRECTIONS.join(', ')}, or default (Dynamics' default). A one-way field is overwritten from its owning side;`,
      'a fixed field, or an unknown entity or field, is refused naming what is allowed.',
    ],
    args: [
      { name: 'ENTITY', description: DIRECTION_ENTITIES.join(' | '), field: 'entity' },
      { name: 'FIELD', description: 'the synced field (`field-direction list` names them)', field: 'field' },
      { name: 'DIRECTION', description: `${DIRECTIONS.join(' | ')} | default`, field: 'direction' },
    ],
    options: {},
    run: async ({ args: [entity, field, direction] }, ctx) => ({ output: await (await ctx.items()).directions.set({ entity, field, direction }) }),
  }),
];
