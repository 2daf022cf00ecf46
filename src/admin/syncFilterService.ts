import type { Pool } from 'pg';
import type { z } from 'zod';
import type { CrmItems, RecordSummary } from '../crm/crmItems';
import type { ItemEntity } from '../crm/itemFields';
import { FilterRuleError, parseFilterRules } from '../policy/syncFilters';
import { InvalidRequestError, NotFoundError } from './errors';
import { FilterPreviewRequest, NewSyncFilter, SyncFilterPatch, SyncFilterQuery } from './itemSchemas';

export interface SyncFilterView {
  id: string;
  userId: string;
  entity: ItemEntity;
  name: string;
  enabled: boolean;
  rules: Record<string, unknown>;
  isDefault: boolean;
  createdAt: Date;
  modifiedAt: Date;
}

export interface FilterPreview {
  count: number;
  records: RecordSummary[];
}

const SELECT = `SELECT id, user_id AS "userId", entity, name, enabled, rules, is_default AS "isDefault",
  created_at AS "createdAt", modified_at AS "modifiedAt" FROM sync_filters`;

/** The rules, checked: bad ones are the caller's mistake (400), each problem named. */
function checked(entity: ItemEntity, rules: unknown): Record<string, unknown> {
  try {
    return parseFilterRules(entity, rules) as unknown as Record<string, unknown>;
  } catch (err) {
    if (err instanceof FilterRuleError) throw new InvalidRequestError(err.message);
    throw err;
  }
}

/**
 * Users' sync filters (which contacts, appointments and tasks go to their mailbox), for the API and
 * the CLI: list, create, change, enable or disable, delete, and preview what one matches, saved or not.
 * Callers check who may act on whose filters; `userId` is always given here.
 */
export class SyncFilterService {
  constructor(
    private readonly pool: Pool,
    private readonly items: CrmItems,
  ) {}

  async list(query: z.input<typeof SyncFilterQuery>): Promise<SyncFilterView[]> {
    const q = SyncFilterQuery.parse(query);
    const { rows } = await this.pool.query(
      `${SELECT} WHERE ($1::uuid IS NULL OR user_id = $1) AND ($2::text IS NULL OR entity = $2) ORDER BY user_id, entity, created_at, id`,
      [q.userId ?? null, q.entity ?? null],
    );
    return rows;
  }

  async get(id: string): Promise<SyncFilterView> {
    const { rows } = await this.pool.query(`${SELECT} WHERE id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError('Sync filter', id);
    return rows[0];
  }

  async create(userId: string, input: z.input<typeof NewSyncFilter>): Promise<SyncFilterView> {
    const f = NewSyncFilter.parse(input);
    const rules = checked(f.entity, f.rules);
    await this.requireUser(userId);
    const { rows } = await this.pool.query(
      `INSERT INTO sync_filters (user_id, entity, name, enabled, rules) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
      [userId, f.entity, f.name, f.enabled, JSON.stringify(rules)],
    );
    return this.get(rows[0].id);
  }

  async update(id: string, input: z.input<typeof SyncFilterPatch>): Promise<SyncFilterView> {
    const patch = SyncFilterPatch.parse(input);
    const current = await this.get(id);
    const rules = patch.rules === undefined ? undefined : checked(current.entity, patch.rules);
    await this.pool.query(
      `UPDATE sync_filters SET name = coalesce($2, name), enabled = coalesce($3, enabled), rules = coalesce($4::jsonb, rules), modified_at = now()
        WHERE id = $1`,
      [id, patch.name ?? null, patch.enabled ?? null, rules === undefined ? null : JSON.stringify(rules)],
    );
    return this.get(id);
  }

  async delete(id: string): Promise<void> {
    const { rowCount } = await this.pool.query(`DELETE FROM sync_filters WHERE id = $1`, [id]);
    if (!rowCount) throw new NotFoundError('Sync filter', id);
  }

  /** What a saved filter matches now, enabled or not. */
  async preview(id: string, limit: number): Promise<FilterPreview> {
    const f = await this.get(id);
    return this.items.preview(f.userId, f.entity, [checked(f.entity, f.rules)], limit);
  }

  /** What unsaved rules would match now for a user. */
  async previewRules(userId: string, input: z.input<typeof FilterPreviewRequest>): Promise<FilterPreview> {
    const p = FilterPreviewRequest.parse(input);
    const rules = checked(p.entity, p.rules);
    await this.requireUser(userId);
    return this.items.preview(userId, p.entity, [rules], p.limit);
  }

  private async requireUser(userId: string): Promise<void> {
    const { rowCount } = await this.pool.query(`SELECT 1 FROM crm_users WHERE id = $1`, [userId]);
    if (!rowCount) throw new NotFoundError('User', userId);
  }
}
