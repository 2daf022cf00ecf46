import type { Pool } from 'pg';
import type { z } from 'zod';
import { checkDirectionChange, effectiveDirections, FIELD_DIRECTIONS, type EffectiveDirection } from '../policy/fieldDirections';
import { InvalidRequestError } from './errors';
import { FieldDirectionChange } from './itemSchemas';

/**
 * The organisation's field directions: Dynamics' defaults (src/policy/fieldDirections.ts) with the
 * organisation's changes stored in item_field_directions. A fixed field or an unknown one cannot be
 * changed: the error says what is allowed.
 */
export class FieldDirectionService {
  constructor(private readonly pool: Pool) {}

  async list(): Promise<EffectiveDirection[]> {
    const { rows } = await this.pool.query(`SELECT entity, field, direction FROM item_field_directions`);
    return effectiveDirections(rows);
  }

  /** Sets one field's direction; `default` puts it back to Dynamics' default. Returns the field as it is now. */
  async set(input: z.input<typeof FieldDirectionChange>): Promise<EffectiveDirection> {
    const change = FieldDirectionChange.parse(input);
    const check = checkDirectionChange(change.entity, change.field, change.direction);
    if (!check.ok) throw new InvalidRequestError(check.problem);
    if (check.direction === FIELD_DIRECTIONS[check.entity][check.field].default) {
      await this.pool.query(`DELETE FROM item_field_directions WHERE entity = $1 AND field = $2`, [check.entity, check.field]);
    } else {
      await this.pool.query(
        `INSERT INTO item_field_directions (entity, field, direction) VALUES ($1, $2, $3)
         ON CONFLICT (entity, field) DO UPDATE SET direction = EXCLUDED.direction, modified_at = now()`,
        [check.entity, check.field, check.direction],
      );
    }
    return (await this.list()).find((d) => d.entity === change.entity && d.field === change.field)!;
  }
}
