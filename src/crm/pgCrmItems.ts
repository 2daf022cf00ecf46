import type { Pool, PoolClient } from 'pg';
import type { z } from 'zod';
import { InvalidRequestError, NotFoundError } from '../admin/errors';
import {
  AppointmentPatch,
  AppointmentQuery,
  ContactPatch,
  NewAppointment,
  NewContact,
  NewTask,
  TaskPatch,
  TaskQuery,
} from '../admin/itemSchemas';
import { compileFilters } from '../policy/syncFilters';
import { resolveAddresses } from '../store/emailContent';
import { inTransaction } from '../store/pgSyncStore';
import type { Appointment, ChangePage, CrmItems, ItemChange, ItemRecord, ItemStore, ItemWrite, RecordSummary, Task } from './crmItems';
import { fieldsOfColumns, ITEM_FIELDS, ITEM_TABLES, selectList, type ItemEntity } from './itemFields';

type Db = Pool | PoolClient;

const KIND: Record<ItemEntity, string> = { contact: 'Contact', appointment: 'Appointment', task: 'Task' };
const SCHEMAS = {
  contact: { create: NewContact, patch: ContactPatch },
  appointment: { create: NewAppointment, patch: AppointmentPatch },
  task: { create: NewTask, patch: TaskPatch },
} as const;

// What a sync marks its writes with: mailbox:<id> and the like, never anything that needs quoting.
const ORIGIN = /^[A-Za-z0-9_.:@-]{1,200}$/;
const CURSOR = /^(\d{1,20}):(\d{1,19})$/;

const APPOINTMENT_EXTRA = `
  CASE WHEN r.organizer_type IS NULL THEN NULL ELSE json_build_object('type', r.organizer_type, 'id', r.organizer_id) END AS organizer,
  r.recurrence, r.series_master_id AS "seriesMasterId", r.original_start AS "originalStart", r.cancelled,
  COALESCE((SELECT json_agg(json_build_object('role', x.role, 'address', x.address, 'name', x.display_name,
                                              'record', CASE WHEN x.party_type IS NULL THEN NULL
                                                             ELSE json_build_object('type', x.party_type, 'id', x.party_id) END) ORDER BY x.id)
              FROM appointment_attendees x WHERE x.appointment_id = r.id), '[]'::json) AS attendees,
  COALESCE((SELECT json_agg(json_build_object('id', e.id, 'originalStart', e.original_start, 'cancelled', e.cancelled) ORDER BY e.original_start)
              FROM appointments e WHERE e.series_master_id = r.id), '[]'::json) AS exceptions`;

const selectRecords = (entity: ItemEntity) =>
  `SELECT r.id, ${selectList(entity)}${entity === 'appointment' ? `, ${APPOINTMENT_EXTRA}` : ''} FROM ${ITEM_TABLES[entity]} r`;

function shape(entity: ItemEntity, row: Record<string, unknown>): ItemRecord {
  if (entity === 'appointment') {
    const exceptions = (row.exceptions as { id: string; originalStart: string; cancelled: boolean }[]).map((e) => ({
      ...e,
      originalStart: new Date(e.originalStart),
    }));
    return { entity, ...row, exceptions } as ItemRecord;
  }
  return { entity, ...row } as ItemRecord;
}

/** A short description of a record, for previews: a contact's name, an activity's subject and time. */
const SUMMARY: Record<ItemEntity, string> = {
  contact: `r.full_name AS label, r.email AS detail`,
  appointment: `coalesce(r.subject, '(no subject)') AS label, to_char(r.starts_at AT TIME ZONE r.time_zone, 'YYYY-MM-DD HH24:MI') || ' ' || r.time_zone AS detail`,
  task: `coalesce(r.subject, '(no subject)') AS label, r.status || coalesce(', due ' || to_char(r.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC', '') AS detail`,
};

export class PgCrmItems implements CrmItems {
  readonly appointments: ItemStore<Appointment, typeof NewAppointment, typeof AppointmentPatch, typeof AppointmentQuery>;
  readonly tasks: ItemStore<Task, typeof NewTask, typeof TaskPatch, typeof TaskQuery>;

  constructor(private readonly pool: Pool) {
    this.appointments = this.storeOf<Appointment, typeof NewAppointment, typeof AppointmentPatch, typeof AppointmentQuery>('appointment', (q) => {
      const query = AppointmentQuery.parse(q);
      return {
        where: `r.series_master_id IS NULL AND ($1::uuid IS NULL OR r.owner_user_id = $1) AND ($2::timestamptz IS NULL OR r.ends_at > $2) AND ($3::timestamptz IS NULL OR r.starts_at < $3)`,
        order: 'r.starts_at, r.id',
        params: [query.ownerUserId ?? null, query.from ?? null, query.to ?? null],
        limit: query.limit,
        offset: query.offset,
      };
    });
    this.tasks = this.storeOf<Task, typeof NewTask, typeof TaskPatch, typeof TaskQuery>('task', (q) => {
      const query = TaskQuery.parse(q);
      return {
        where: `($1::uuid IS NULL OR r.owner_user_id = $1) AND ($2::text IS NULL OR r.status = $2)`,
        order: 'r.created_at, r.id',
        params: [query.ownerUserId ?? null, query.status ?? null],
        limit: query.limit,
        offset: query.offset,
      };
    });
  }

  async read(entity: ItemEntity, ids: string[]): Promise<ItemRecord[]> {
    return this.readWith(this.pool, entity, ids);
  }

  async changesSince(cursor: string | null, options: { limit?: number; skipOrigin?: string } = {}): Promise<ChangePage> {
    const limit = options.limit ?? 500;
    const [transactionId, position] = cursor === null ? ['0', '0'] : this.parseCursor(cursor);
    // Below the oldest transaction still running, every transaction has finished: nothing can appear
    // there later, so the cursor never passes a change that commits afterwards.
    const { rows } = await this.pool.query(
      `SELECT position::text, transaction_id::text AS "transactionId", entity, record_id AS "recordId", operation,
              changed_columns AS "changedColumns", owner_before AS "ownerBefore", owner_after AS "ownerAfter",
              user_ids::text[] AS "userIds", origin, changed_at AS "changedAt"
         FROM crm_change_log
        WHERE (transaction_id, position) > ($1::xid8, $2::bigint)
          AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY transaction_id, position
        LIMIT $3`,
      [transactionId, position, limit + 1],
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    const changes: ItemChange[] = page
      .filter((r) => r.origin !== options.skipOrigin)
      .map(({ transactionId: _, changedColumns, ...r }) => ({ ...r, changedFields: fieldsOfColumns(r.entity, changedColumns) }));
    return { changes, cursor: last ? `${last.transactionId}:${last.position}` : cursor ?? '0:0', more: rows.length > limit };
  }

  async currentCursor(): Promise<string> {
    const { rows } = await this.pool.query(`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS x`);
    // Everything of transactions older than the oldest still running; it and later ones come next.
    return `${BigInt(rows[0].x) - 1n}:9223372036854775807`;
  }

  async matchingIds(userId: string, entity: ItemEntity, among?: string[]): Promise<string[]> {
    const { rows: filters } = await this.pool.query(
      `SELECT rules FROM sync_filters WHERE user_id = $1 AND entity = $2 AND enabled ORDER BY created_at, id`,
      [userId, entity],
    );
    const { rows } = await this.query(
      entity,
      filters.map((f) => f.rules),
      userId,
      `SELECT r.id FROM ${ITEM_TABLES[entity]} r`,
      among ?? null,
      'ORDER BY r.id',
    );
    return rows.map((r) => r.id);
  }

  async preview(userId: string, entity: ItemEntity, rulesOfEachFilter: unknown[], limit: number): Promise<{ count: number; records: RecordSummary[] }> {
    const [{ rows: counted }, { rows: records }] = await Promise.all([
      this.query(entity, rulesOfEachFilter, userId, `SELECT count(*)::int AS count FROM ${ITEM_TABLES[entity]} r`, null, ''),
      this.query(entity, rulesOfEachFilter, userId, `SELECT r.id, ${SUMMARY[entity]} FROM ${ITEM_TABLES[entity]} r`, null, `ORDER BY r.modified_at DESC, r.id LIMIT ${Math.max(0, Math.min(1000, Math.trunc(limit)))}`),
    ]);
    return { count: counted[0].count, records };
  }

  async apply<T = void>(
    origin: string,
    writes: ItemWrite[],
    alongside?: (db: PoolClient, records: (ItemRecord | null)[]) => Promise<T>,
  ): Promise<{ records: (ItemRecord | null)[]; result: T | undefined }> {
    if (!ORIGIN.test(origin) || origin === 'crm') throw new InvalidRequestError(`A sync origin is letters, digits and _.:@- (such as mailbox:<id>), not "crm": got "${origin}"`);
    return inTransaction(this.pool, async (db) => {
      await db.query(`SELECT set_config('crm_sync.origin', $1, true)`, [origin]);
      const records: (ItemRecord | null)[] = [];
      for (const w of writes) {
        const id = await this.writeOne(db, w);
        records.push(id === null ? null : (await this.readWith(db, w.entity, [id]))[0]);
      }
      const result = alongside ? await alongside(db, records) : undefined;
      return { records, result };
    });
  }

  // Internals --------------------------------------------------------------------------------------

  private parseCursor(cursor: string): [string, string] {
    const m = CURSOR.exec(cursor);
    if (!m) throw new InvalidRequestError(`Not a change-log cursor: "${cursor}" (one comes from changesSince or currentCursor)`);
    return [m[1], m[2]];
  }

  private async query(entity: ItemEntity, rulesOfEachFilter: unknown[], userId: string, select: string, among: string[] | null, tail: string) {
    const compiled = compileFilters(entity, rulesOfEachFilter, { alias: 'r', firstParam: 2, currentUserId: userId });
    // Exceptions go with their series.
    const series = entity === 'appointment' ? 'r.series_master_id IS NULL AND ' : '';
    return this.pool.query(`${select} WHERE ($1::uuid[] IS NULL OR r.id = ANY($1)) AND ${series}${compiled.sql} ${tail}`, [among, ...compiled.params]);
  }

  private async readWith(db: Db, entity: ItemEntity, ids: string[]): Promise<ItemRecord[]> {
    if (ids.length === 0) return [];
    const { rows } = await db.query(`${selectRecords(entity)} WHERE r.id = ANY($1::uuid[])`, [ids]);
    return rows.map((row) => shape(entity, row));
  }

  /** One write; the id of the record written, null for a delete. */
  private async writeOne(db: PoolClient, w: ItemWrite): Promise<string | null> {
    const table = ITEM_TABLES[w.entity];
    if (w.operation === 'delete') {
      const { rowCount } = await db.query(`DELETE FROM ${table} WHERE id = $1`, [w.id]);
      if (!rowCount) throw new NotFoundError(KIND[w.entity], w.id);
      return null;
    }
    const schema = w.operation === 'create' ? SCHEMAS[w.entity].create : SCHEMAS[w.entity].patch;
    const values = (schema as z.ZodType).parse(w.values) as Record<string, unknown>;
    const columns = new Map<string, unknown>();
    for (const [field, spec] of Object.entries(ITEM_FIELDS[w.entity])) {
      if (!spec.readOnly && values[field] !== undefined) columns.set(spec.column, values[field]);
    }
    if (w.entity === 'appointment') await this.appointmentColumns(db, w.operation, values, columns);
    if (w.operation === 'create' && w.id) columns.set('id', w.id);

    let id: string;
    if (w.operation === 'create') {
      const names = [...columns.keys()];
      const { rows } = await db.query(
        `INSERT INTO ${table} (${names.join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id`,
        [...columns.values()],
      );
      id = rows[0].id;
    } else {
      id = w.id;
      const names = [...columns.keys()];
      const { rowCount } =
        names.length > 0
          ? await db.query(`UPDATE ${table} SET ${names.map((n, i) => `${n} = $${i + 2}`).join(', ')} WHERE id = $1`, [id, ...columns.values()])
          : await db.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id]);
      if (!rowCount) throw new NotFoundError(KIND[w.entity], id);
    }
    if (w.entity === 'appointment' && values.attendees !== undefined) {
      await this.replaceAttendees(db, id, values.attendees as { role: string; address: string; name?: string }[]);
    }
    return id;
  }

  /** The columns of an appointment that are no plain field: organizer resolved, recurrence, exception. */
  private async appointmentColumns(db: PoolClient, operation: 'create' | 'update', values: Record<string, unknown>, columns: Map<string, unknown>): Promise<void> {
    if (values.organizerAddress !== undefined) {
      const address = values.organizerAddress as string | null;
      const record = address ? (await resolveAddresses(db, [address])).get(address.toLowerCase()) : undefined;
      columns.set('organizer_type', record?.type ?? null);
      columns.set('organizer_id', record?.id ?? null);
    }
    if (values.recurrence !== undefined) columns.set('recurrence', values.recurrence === null ? null : JSON.stringify(values.recurrence));
    if (values.cancelled !== undefined) columns.set('cancelled', values.cancelled);
    if (operation === 'create' && values.seriesMasterId !== undefined) {
      const { rows } = await db.query(`SELECT recurrence IS NOT NULL AS recurring, owner_user_id FROM appointments WHERE id = $1`, [values.seriesMasterId]);
      if (!rows[0]) throw new NotFoundError('Appointment series', values.seriesMasterId as string);
      if (!rows[0].recurring) throw new InvalidRequestError(`Appointment ${values.seriesMasterId} is no series (it has no recurrence): only a series has exceptions`);
      columns.set('series_master_id', values.seriesMasterId);
      columns.set('original_start', values.originalStart);
      // An occurrence belongs to whoever owns its series unless it says otherwise.
      if (!columns.has('owner_user_id')) columns.set('owner_user_id', rows[0].owner_user_id);
    }
  }

  private async replaceAttendees(db: PoolClient, appointmentId: string, attendees: { role: string; address: string; name?: string }[]): Promise<void> {
    // One row per address, the first named.
    const byAddress = new Map<string, { role: string; address: string; name?: string }>();
    for (const a of attendees) if (!byAddress.has(a.address.toLowerCase())) byAddress.set(a.address.toLowerCase(), a);
    const list = [...byAddress.values()];
    const resolved = await resolveAddresses(db, list.map((a) => a.address));
    await db.query(`DELETE FROM appointment_attendees WHERE appointment_id = $1`, [appointmentId]);
    if (list.length === 0) return;
    const rows = list.map((a) => {
      const record = resolved.get(a.address.toLowerCase());
      return { role: a.role, address: a.address, display_name: a.name ?? null, party_type: record?.type ?? null, party_id: record?.id ?? null };
    });
    await db.query(
      `INSERT INTO appointment_attendees (appointment_id, role, address, display_name, party_type, party_id)
       SELECT $1, r.role, r.address, r.display_name, r.party_type, r.party_id
         FROM jsonb_to_recordset($2::jsonb) AS r(role text, address text, display_name text, party_type text, party_id uuid)`,
      [appointmentId, JSON.stringify(rows)],
    );
  }

  /** People's CRUD of one entity: the same writes as sync's, logged with origin 'crm'. */
  private storeOf<View, New extends z.ZodType, Patch extends z.ZodType, Query extends z.ZodType>(
    entity: ItemEntity,
    listQuery: (q: z.input<Query>) => { where: string; order: string; params: unknown[]; limit: number; offset: number },
  ): ItemStore<View, New, Patch, Query> {
    const strip = (r: ItemRecord) => {
      const { entity: _, ...view } = r;
      return view as unknown as View;
    };
    const write = (w: ItemWrite) =>
      inTransaction(this.pool, async (db) => {
        const id = await this.writeOne(db, w);
        return id === null ? null : strip((await this.readWith(db, entity, [id]))[0]);
      });
    return {
      create: async (input) => (await write({ entity, operation: 'create', values: input as Record<string, unknown> })) as View,
      update: async (id, patch) => (await write({ entity, operation: 'update', id, values: patch as Record<string, unknown> })) as View,
      delete: async (id) => {
        await write({ entity, operation: 'delete', id });
      },
      get: async (id) => {
        const [record] = await this.readWith(this.pool, entity, [id]);
        if (!record) throw new NotFoundError(KIND[entity], id);
        return strip(record);
      },
      list: async (q) => {
        const { where, order, params, limit, offset } = listQuery(q);
        const { rows } = await this.pool.query(
          `${selectRecords(entity)} WHERE ${where} ORDER BY ${order} LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
          [...params, limit, offset],
        );
        return rows.map((row) => strip(shape(entity, row)));
      },
    };
  }
}

