import type { ItemWrite } from '../crm/crmItems';

/**
 * A series' exceptions as the two-way engine compares them, pure. Exchange keeps a moved, changed or
 * cancelled occurrence inside its series; the CRM keeps it as a row of its own (series_master_id,
 * original_start). Both sides' exceptions are brought to one form: by original start, a cancelled
 * one only as such, a changed one with its times, subject, location and body.
 */
export interface SeriesException {
  /** The start the occurrence had in the series (ISO instant). */
  originalStart: string;
  cancelled: boolean;
  startsAt?: string;
  endsAt?: string;
  subject?: string | null;
  location?: string | null;
  description?: string | null;
}

/** A CRM exception row, as CrmItems.read gives it. */
export interface ExceptionRow {
  id: string;
  originalStart: Date | string | null;
  cancelled: boolean;
  startsAt: Date | string;
  endsAt: Date | string;
  subject: string | null;
  location: string | null;
  description: string | null;
}

/** The series values its exceptions take from it. */
export interface SeriesValues {
  id: string;
  startsAt?: unknown;
  endsAt?: unknown;
  timeZone?: unknown;
  allDay?: unknown;
  subject?: unknown;
  location?: unknown;
  description?: unknown;
}

const instant = (value: unknown): string => new Date(value instanceof Date ? value : String(value)).toISOString();
const textOrNull = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/** The compared form: one per original start, in order, keys always in the same order. */
export function normalizeExceptions(list: readonly unknown[]): SeriesException[] {
  const byStart = new Map<string, SeriesException>();
  for (const raw of list as SeriesException[]) {
    const originalStart = instant(raw.originalStart);
    byStart.set(
      originalStart,
      raw.cancelled
        ? { originalStart, cancelled: true }
        : {
            originalStart,
            cancelled: false,
            startsAt: instant(raw.startsAt ?? originalStart),
            endsAt: instant(raw.endsAt ?? raw.startsAt ?? originalStart),
            subject: textOrNull(raw.subject),
            location: textOrNull(raw.location),
            description: textOrNull(raw.description),
          },
    );
  }
  return [...byStart.values()].sort((a, b) => Date.parse(a.originalStart) - Date.parse(b.originalStart));
}

/**
 * A series' CRM exception rows as exceptions, each with its row id. A row without its own subject,
 * location or body shows the series' (as Outlook shows an occurrence), so a row made in the CRM with
 * only new times compares equal to the occurrence Exchange moved.
 */
export function crmExceptions(series: SeriesValues, rows: readonly ExceptionRow[]): (SeriesException & { id: string })[] {
  const ids = new Map(rows.filter((r) => r.originalStart !== null).map((r) => [instant(r.originalStart), r.id]));
  const own = rows
    .filter((r) => r.originalStart !== null)
    .map((r) => ({
      originalStart: instant(r.originalStart),
      cancelled: r.cancelled,
      startsAt: instant(r.startsAt),
      endsAt: instant(r.endsAt),
      subject: textOrNull(r.subject) ?? textOrNull(series.subject),
      location: textOrNull(r.location) ?? textOrNull(series.location),
      description: textOrNull(r.description) ?? textOrNull(series.description),
    }));
  return normalizeExceptions(own).map((e) => ({ ...e, id: ids.get(e.originalStart)! }));
}

/**
 * The CRM writes that make a series' exception rows (`current`, from crmExceptions) say `wanted`:
 * a row per exception created or updated where it differs, rows no longer wanted deleted. A
 * cancelled occurrence's row keeps its original times (the schema wants some).
 */
export function exceptionWrites(series: SeriesValues, current: readonly (SeriesException & { id: string })[], wanted: readonly unknown[]): ItemWrite[] {
  const writes: ItemWrite[] = [];
  const have = new Map(current.map((c) => [instant(c.originalStart), c]));
  const target = normalizeExceptions(wanted);
  const duration = Date.parse(instant(series.endsAt)) - Date.parse(instant(series.startsAt));
  for (const e of target) {
    const row = have.get(e.originalStart);
    have.delete(e.originalStart);
    if (row && JSON.stringify(normalizeExceptions([row])[0]) === JSON.stringify(e)) continue;
    const values: Record<string, unknown> = e.cancelled
      ? { cancelled: true }
      : { cancelled: false, startsAt: e.startsAt, endsAt: e.endsAt, subject: e.subject, location: e.location, description: e.description };
    if (row) {
      writes.push({ entity: 'appointment', operation: 'update', id: row.id, values });
      continue;
    }
    const times = e.cancelled ? { startsAt: e.originalStart, endsAt: new Date(Date.parse(e.originalStart) + Math.max(0, duration || 0)).toISOString() } : {};
    const zone = typeof series.timeZone === 'string' ? { timeZone: series.timeZone } : {};
    const allDay = typeof series.allDay === 'boolean' ? { allDay: series.allDay } : {};
    // A new record is created without its empty fields (null only clears a field of one that exists).
    const given = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null));
    writes.push({ entity: 'appointment', operation: 'create', values: { seriesMasterId: series.id, originalStart: e.originalStart, ...zone, ...allDay, ...times, ...given } });
  }
  for (const gone of have.values()) writes.push({ entity: 'appointment', operation: 'delete', id: gone.id });
  return writes;
}

/**
 * The three-way merge of a series' exceptions when both sides changed them: occurrence by
 * occurrence (by original start), so an occurrence moved in the CRM and another cancelled in
 * Outlook both survive. Only the same occurrence changed on both sides, differently, is a conflict,
 * which `crmWins` decides.
 */
export function mergeExceptions(
  crm: readonly unknown[],
  crmBase: readonly unknown[],
  remote: readonly unknown[],
  remoteBase: readonly unknown[],
  crmWins: boolean,
): { merged: SeriesException[]; conflict: boolean } {
  const byStart = (list: readonly unknown[]) => new Map(normalizeExceptions(list).map((e) => [e.originalStart, JSON.stringify(e)]));
  const [c, cb, r, rb] = [crm, crmBase, remote, remoteBase].map(byStart);
  const merged: SeriesException[] = [];
  let conflict = false;
  for (const start of new Set([...c.keys(), ...cb.keys(), ...r.keys(), ...rb.keys()])) {
    const crmChanged = c.get(start) !== cb.get(start);
    const remoteChanged = r.get(start) !== rb.get(start);
    let pick: string | undefined;
    if (crmChanged && !remoteChanged) pick = c.get(start);
    else if (remoteChanged && !crmChanged) pick = r.get(start);
    else {
      if (crmChanged && c.get(start) !== r.get(start)) conflict = true;
      pick = crmWins ? c.get(start) : r.get(start);
    }
    if (pick !== undefined) merged.push(JSON.parse(pick) as SeriesException);
  }
  return { merged: normalizeExceptions(merged), conflict };
}
