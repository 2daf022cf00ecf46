import { ITEM_FIELDS, type FieldType, type ItemEntity } from '../crm/itemFields';

/**
 * Sync filters: which CRM records of an entity go to a user's mailbox (Dynamics' "online
 * synchronization filters"). A filter is structured rules, a group of conditions combined with all
 * (AND) or any (OR), groups nesting; each condition names a field of a whitelist, an operator and a
 * value. `parseFilterRules` checks rules and says what is wrong; `compileFilters` turns a user's
 * enabled filters of one entity into a parameterised SQL condition, their union. Values only ever
 * travel as parameters: a column name comes from the whitelist, never from the rules.
 */

export const FILTER_OPERATORS = ['eq', 'ne', 'in', 'gt', 'lt', 'is-null', 'relative-date'] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

/** The CRM user the filter belongs to, whoever that is: what makes one default fit every user. */
export interface CurrentUser {
  currentUser: true;
}

export interface FilterCondition {
  field: string;
  op: FilterOperator;
  /**
   * eq, ne, gt, lt: one value of the field's type; in: a list of them; is-null: true (no value) or
   * false (has one); relative-date: { from?, to? } in days from now (negative: past), from inclusive.
   * A user field also takes { "currentUser": true }.
   */
  value?: unknown;
}

export interface FilterGroup {
  match: 'all' | 'any';
  conditions: (FilterCondition | FilterGroup)[];
}

/** Rules refused, with every problem named by where it is (`conditions.1.value`). */
export class FilterRuleError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid filter rules: ${problems.join('; ')}`);
    this.name = 'FilterRuleError';
  }
}

/** A field a condition may name: its SQL (over the record alias) and value type. */
interface FilterField {
  type: FieldType;
  values?: readonly string[];
  nullable: boolean;
  /** The condition's SQL for a value already a parameter: the column compared, or a whole predicate. */
  column?: string;
  /** For a field that is no column: the predicate for "is one of these users" (`$n` is a uuid[]). */
  anyOf?: (alias: string, param: string) => string;
  nullPredicate?: (alias: string) => string;
  operators: readonly FilterOperator[];
}

const OPERATORS_BY_TYPE: Record<FieldType, readonly FilterOperator[]> = {
  text: ['eq', 'ne', 'in', 'is-null'],
  longText: ['is-null'],
  email: ['eq', 'ne', 'in', 'is-null'],
  date: ['eq', 'ne', 'gt', 'lt', 'is-null', 'relative-date'],
  timestamp: ['eq', 'ne', 'gt', 'lt', 'is-null', 'relative-date'],
  boolean: ['eq', 'ne'],
  integer: ['eq', 'ne', 'in', 'gt', 'lt'],
  uuid: ['eq', 'ne', 'in', 'is-null'],
  user: ['eq', 'ne', 'in', 'is-null'],
  enum: ['eq', 'ne', 'in', 'is-null'],
};

/** The filter whitelist of each entity: its filterable fields, and for appointments who takes part. */
export function filterFields(entity: ItemEntity): Record<string, FilterField> {
  const fields: Record<string, FilterField> = {};
  for (const [name, spec] of Object.entries(ITEM_FIELDS[entity])) {
    if (!spec.filterable) continue;
    fields[name] = {
      type: spec.type,
      values: spec.values,
      nullable: !spec.notNull && !spec.required && !spec.readOnly,
      column: spec.column,
      operators: OPERATORS_BY_TYPE[spec.type].filter((op) => op !== 'is-null' || (!spec.notNull && !spec.required && !spec.readOnly)),
    };
  }
  if (entity === 'appointment') {
    fields.organizer = {
      type: 'user',
      nullable: true,
      anyOf: (a, p) => `(${a}.organizer_type = 'user' AND ${a}.organizer_id = ANY(${p}))`,
      nullPredicate: (a) => `${a}.organizer_id IS NULL`,
      operators: ['eq', 'ne', 'in', 'is-null'],
    };
    fields.attendee = {
      type: 'user',
      nullable: false,
      anyOf: (a, p) =>
        `EXISTS (SELECT 1 FROM appointment_attendees x WHERE x.appointment_id = ${a}.id AND x.party_type = 'user' AND x.party_id = ANY(${p}))`,
      operators: ['eq', 'ne', 'in'],
    };
  }
  return fields;
}

// Checking -------------------------------------------------------------------------------------------

const MAX_DEPTH = 5;
const MAX_CONDITIONS = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCurrentUser = (v: unknown): v is CurrentUser => isObject(v) && v.currentUser === true && Object.keys(v).length === 1;

function valueProblem(field: FilterField, value: unknown): string | null {
  switch (field.type) {
    case 'text':
    case 'longText':
      return typeof value === 'string' && value.length <= 1000 ? null : 'expected a text of at most 1000 characters';
    case 'email':
      return typeof value === 'string' && value.length <= 320 ? null : 'expected an email address';
    case 'date':
      return typeof value === 'string' && DATE.test(value) && !Number.isNaN(Date.parse(value)) ? null : 'expected a date such as 2026-12-31';
    case 'timestamp':
      return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value))
        ? null
        : 'expected an ISO 8601 time such as 2026-12-31T09:00:00Z';
    case 'boolean':
      return typeof value === 'boolean' ? null : 'expected true or false';
    case 'integer':
      return Number.isSafeInteger(value) ? null : 'expected an integer';
    case 'uuid':
      return typeof value === 'string' && UUID.test(value) ? null : 'expected a UUID';
    case 'user':
      return isCurrentUser(value) || (typeof value === 'string' && UUID.test(value)) ? null : 'expected a user id (UUID) or {"currentUser": true}';
    case 'enum':
      return typeof value === 'string' && field.values!.includes(value) ? null : `expected one of ${field.values!.join(', ')}`;
  }
}

function checkCondition(entity: ItemEntity, fields: Record<string, FilterField>, c: Record<string, unknown>, at: string, problems: string[]): void {
  const unknownKeys = Object.keys(c).filter((k) => !['field', 'op', 'value'].includes(k));
  if (unknownKeys.length > 0) problems.push(`${at}: unknown key ${unknownKeys.map((k) => `"${k}"`).join(', ')} (a condition has field, op, value)`);
  if (typeof c.field !== 'string' || !Object.hasOwn(fields, c.field)) {
    problems.push(`${at}.field: ${typeof c.field === 'string' ? `unknown field "${c.field}"` : 'missing'} for ${entity}; filterable fields: ${Object.keys(fields).join(', ')}`);
    return;
  }
  const field = fields[c.field];
  if (typeof c.op !== 'string' || !field.operators.includes(c.op as FilterOperator)) {
    problems.push(`${at}.op: ${typeof c.op === 'string' ? `operator "${c.op}" does not apply to ${c.field}` : 'missing'}; ${c.field} takes ${field.operators.join(', ')}`);
    return;
  }
  const op = c.op as FilterOperator;
  const v = c.value;
  if (op === 'in') {
    if (!Array.isArray(v) || v.length === 0 || v.length > 500) {
      problems.push(`${at}.value: "in" takes a list of 1 to 500 values`);
      return;
    }
    v.forEach((item, i) => {
      const problem = valueProblem(field, item);
      if (problem) problems.push(`${at}.value.${i}: ${problem}`);
    });
  } else if (op === 'is-null') {
    if (v !== undefined && typeof v !== 'boolean') problems.push(`${at}.value: "is-null" takes true (has no value) or false (has one)`);
  } else if (op === 'relative-date') {
    const ok =
      isObject(v) &&
      Object.keys(v).length > 0 &&
      Object.entries(v).every(([k, n]) => (k === 'from' || k === 'to') && Number.isSafeInteger(n) && Math.abs(n as number) <= 36_600);
    if (!ok) problems.push(`${at}.value: "relative-date" takes { "from": days, "to": days } (either or both; negative is past, e.g. { "from": -14 })`);
  } else {
    const problem = valueProblem(field, v);
    if (problem) problems.push(`${at}.value: ${problem}`);
  }
}

function checkGroup(entity: ItemEntity, fields: Record<string, FilterField>, g: unknown, at: string, depth: number, problems: string[], count: { n: number }): void {
  const where = at || 'rules';
  if (!isObject(g)) {
    problems.push(`${where}: expected an object { "match": "all" | "any", "conditions": [...] }`);
    return;
  }
  const unknownKeys = Object.keys(g).filter((k) => !['match', 'conditions'].includes(k));
  if (unknownKeys.length > 0) problems.push(`${where}: unknown key ${unknownKeys.map((k) => `"${k}"`).join(', ')} (a group has match, conditions)`);
  if (g.match !== 'all' && g.match !== 'any') problems.push(`${at ? `${at}.` : ''}match: expected "all" or "any"`);
  if (!Array.isArray(g.conditions) || g.conditions.length === 0) {
    problems.push(`${at ? `${at}.` : ''}conditions: expected a non-empty list`);
    return;
  }
  if (depth > MAX_DEPTH) {
    problems.push(`${where}: groups nest at most ${MAX_DEPTH} deep`);
    return;
  }
  g.conditions.forEach((c, i) => {
    const path = `${at ? `${at}.` : ''}conditions.${i}`;
    if (++count.n > MAX_CONDITIONS) {
      if (count.n === MAX_CONDITIONS + 1) problems.push(`${path}: a filter has at most ${MAX_CONDITIONS} conditions`);
      return;
    }
    if (isObject(c) && 'conditions' in c) checkGroup(entity, fields, c, path, depth + 1, problems, count);
    else if (isObject(c)) checkCondition(entity, fields, c, path, problems);
    else problems.push(`${path}: expected a condition { "field", "op", "value" } or a group { "match", "conditions" }`);
  });
}

/** The rules, checked against the entity's whitelist; FilterRuleError names every problem. */
export function parseFilterRules(entity: ItemEntity, rules: unknown): FilterGroup {
  const problems: string[] = [];
  checkGroup(entity, filterFields(entity), rules, '', 1, problems, { n: 0 });
  if (problems.length > 0) throw new FilterRuleError(problems);
  return rules as FilterGroup;
}

// Compiling ------------------------------------------------------------------------------------------

export interface CompiledCondition {
  /** A boolean SQL expression over the record alias, with `$n` placeholders. */
  sql: string;
  params: unknown[];
}

export interface CompileContext {
  /** The alias of the record's table in the query. */
  alias: string;
  /** The number of the first placeholder to use ($n): the query's own come before. */
  firstParam: number;
  /** Who "currentUser" is: the filter's user. */
  currentUserId: string;
}

class Compiler {
  readonly params: unknown[] = [];
  constructor(
    private readonly fields: Record<string, FilterField>,
    private readonly ctx: CompileContext,
  ) {}

  private param(value: unknown, cast: string): string {
    this.params.push(value);
    return `$${this.ctx.firstParam + this.params.length - 1}::${cast}`;
  }

  private resolve(field: FilterField, v: unknown): unknown {
    return field.type === 'user' && isCurrentUser(v) ? this.ctx.currentUserId : v;
  }

  private cast(field: FilterField): string {
    switch (field.type) {
      case 'date':
        return 'date';
      case 'timestamp':
        return 'timestamptz';
      case 'boolean':
        return 'boolean';
      case 'integer':
        return 'bigint';
      case 'uuid':
      case 'user':
        return 'uuid';
      default:
        return 'text';
    }
  }

  group(g: FilterGroup): string {
    const parts = g.conditions.map((c) => ('conditions' in c ? this.group(c) : this.condition(c)));
    return `(${parts.join(g.match === 'all' ? ' AND ' : ' OR ')})`;
  }

  private condition(c: FilterCondition): string {
    const field = this.fields[c.field];
    const a = this.ctx.alias;
    const cast = this.cast(field);
    if (field.anyOf) {
      const isNull = field.nullPredicate?.(a) ?? 'false';
      switch (c.op) {
        case 'eq':
          return field.anyOf(a, this.param([this.resolve(field, c.value)], 'uuid[]'));
        case 'ne':
          return `NOT ${field.anyOf(a, this.param([this.resolve(field, c.value)], 'uuid[]'))}`;
        case 'in':
          return field.anyOf(a, this.param((c.value as unknown[]).map((v) => this.resolve(field, v)), 'uuid[]'));
        case 'is-null':
          return c.value === false ? `NOT ${isNull}` : isNull;
        default:
          throw new FilterRuleError([`${c.field}: operator ${c.op} does not apply`]);
      }
    }
    const column = `${a}.${field.column}`;
    const lhs = field.type === 'email' ? `lower(${column})` : column;
    const value = (v: unknown) => (field.type === 'email' ? `lower(${this.param(v, 'text')})` : this.param(this.resolve(field, v), cast));
    switch (c.op) {
      case 'eq':
        return `${lhs} = ${value(c.value)}`;
      case 'ne':
        return `${lhs} IS DISTINCT FROM ${value(c.value)}`;
      case 'gt':
        return `${lhs} > ${value(c.value)}`;
      case 'lt':
        return `${lhs} < ${value(c.value)}`;
      case 'in': {
        const list = (c.value as unknown[]).map((v) => (field.type === 'email' ? String(v).toLowerCase() : this.resolve(field, v)));
        return `${lhs} = ANY(${this.param(list, `${cast}[]`)})`;
      }
      case 'is-null':
        return c.value === false ? `${column} IS NOT NULL` : `${column} IS NULL`;
      case 'relative-date': {
        const { from, to } = c.value as { from?: number; to?: number };
        // Days from now; a date field compares with today's date.
        const now = field.type === 'date' ? 'current_date' : 'now()';
        const at = (days: number) =>
          field.type === 'date' ? `(${now} + ${this.param(days, 'integer')})` : `(${now} + make_interval(days => ${this.param(days, 'integer')}))`;
        const parts = [from !== undefined ? `${column} >= ${at(from)}` : null, to !== undefined ? `${column} < ${at(to)}` : null].filter(Boolean);
        return `(${parts.join(' AND ')})`;
      }
    }
  }
}

/** One filter's rules as SQL (checked first: FilterRuleError for bad rules). */
export function compileFilter(entity: ItemEntity, rules: unknown, ctx: CompileContext): CompiledCondition {
  const checked = parseFilterRules(entity, rules);
  const compiler = new Compiler(filterFields(entity), ctx);
  const sql = compiler.group(checked);
  return { sql, params: compiler.params };
}

/**
 * A user's enabled filters of one entity, as one condition: their union. None: `false`, the entity
 * does not sync for the user.
 */
export function compileFilters(entity: ItemEntity, rulesOfEachFilter: unknown[], ctx: CompileContext): CompiledCondition {
  if (rulesOfEachFilter.length === 0) return { sql: 'false', params: [] };
  const params: unknown[] = [];
  const parts = rulesOfEachFilter.map((rules) => {
    const one = compileFilter(entity, rules, { ...ctx, firstParam: ctx.firstParam + params.length });
    params.push(...one.params);
    return one.sql;
  });
  return { sql: parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`, params };
}
