import type { PatternedRecurrence } from '@microsoft/microsoft-graph-types';
import type { RecurrenceInput } from '../../admin/itemSchemas';
import { ianaZone, instantToZoned, zonedToInstant } from './graphTime';

/**
 * Graph's patternedRecurrence <-> the CRM's recurrence JSON (the same shape, src/admin/itemSchemas.ts
 * Recurrence), and the occurrences a pattern makes, pure. Graph fills every property of a pattern
 * (dayOfMonth 0, index "first", firstDayOfWeek "sunday", endDate "0001-01-01" ...); the CRM form
 * keeps only those the pattern type uses, without Graph's defaults, so a round trip compares equal.
 */

const DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const;
const INDEXES = ['first', 'second', 'third', 'fourth', 'last'] as const;

export function recurrenceFromGraph(recurrence: PatternedRecurrence | null | undefined, appointmentZone: string): RecurrenceInput | null {
  const p = recurrence?.pattern;
  const r = recurrence?.range;
  if (!p?.type || !r?.type || !r.startDate) return null;
  const type = p.type as RecurrenceInput['pattern']['type'];
  const pattern: RecurrenceInput['pattern'] = { type, interval: p.interval || 1 };
  if (type === 'weekly' || type === 'relativeMonthly' || type === 'relativeYearly') pattern.daysOfWeek = (p.daysOfWeek ?? []) as RecurrenceInput['pattern']['daysOfWeek'];
  if (type === 'absoluteMonthly' || type === 'absoluteYearly') pattern.dayOfMonth = p.dayOfMonth ?? 1;
  if (type === 'absoluteYearly' || type === 'relativeYearly') pattern.month = p.month ?? 1;
  if (type === 'relativeMonthly' || type === 'relativeYearly') pattern.index = (p.index ?? 'first') as RecurrenceInput['pattern']['index'];
  if (type === 'weekly' && p.firstDayOfWeek && p.firstDayOfWeek !== 'sunday') pattern.firstDayOfWeek = p.firstDayOfWeek as RecurrenceInput['pattern']['firstDayOfWeek'];
  const rangeType = r.type as RecurrenceInput['range']['type'];
  const range: RecurrenceInput['range'] = { type: rangeType, startDate: r.startDate };
  if (rangeType === 'endDate' && r.endDate) range.endDate = r.endDate;
  if (rangeType === 'numbered') range.numberOfOccurrences = r.numberOfOccurrences ?? 1;
  const zone = ianaZone(r.recurrenceTimeZone);
  if (zone && zone !== appointmentZone) range.recurrenceTimeZone = zone;
  return { pattern, range };
}

export function recurrenceToGraph(recurrence: RecurrenceInput, appointmentZone: string): PatternedRecurrence {
  return {
    pattern: { firstDayOfWeek: 'sunday', ...recurrence.pattern },
    range: { recurrenceTimeZone: appointmentZone, ...recurrence.range },
  };
}

const dayMs = 24 * 3600 * 1000;
const dateOf = (text: string) => Date.parse(`${text}T00:00:00Z`);
const isoDate = (at: number) => new Date(at).toISOString().slice(0, 10);

/** Whether the pattern has an occurrence on this date (ms of its midnight UTC), counting from the range's start. */
function matches(pattern: RecurrenceInput['pattern'], startDate: number, day: number): boolean {
  const date = new Date(day);
  const start = new Date(startDate);
  const interval = pattern.interval;
  const months = (date.getUTCFullYear() - start.getUTCFullYear()) * 12 + date.getUTCMonth() - start.getUTCMonth();
  const weekday = DAYS[date.getUTCDay()];
  switch (pattern.type) {
    case 'daily':
      return Math.round((day - startDate) / dayMs) % interval === 0;
    case 'weekly': {
      const firstDay = DAYS.indexOf(pattern.firstDayOfWeek ?? 'sunday');
      const weekStart = (at: number) => at - ((new Date(at).getUTCDay() - firstDay + 7) % 7) * dayMs;
      const weeks = Math.round((weekStart(day) - weekStart(startDate)) / (7 * dayMs));
      return weeks % interval === 0 && (pattern.daysOfWeek ?? []).includes(weekday);
    }
    case 'absoluteMonthly':
      return months % interval === 0 && date.getUTCDate() === pattern.dayOfMonth;
    case 'absoluteYearly':
      return months % (12 * interval) === 0 && date.getUTCMonth() + 1 === pattern.month && date.getUTCDate() === pattern.dayOfMonth;
    case 'relativeMonthly':
      return months % interval === 0 && isIndexedDay(pattern, day);
    case 'relativeYearly':
      return date.getUTCMonth() + 1 === pattern.month && (date.getUTCFullYear() - start.getUTCFullYear()) % interval === 0 && isIndexedDay(pattern, day);
  }
}

/** The first, second ... last of the pattern's weekdays in the day's month. */
function isIndexedDay(pattern: RecurrenceInput['pattern'], day: number): boolean {
  const date = new Date(day);
  const days = pattern.daysOfWeek ?? [];
  const inMonth: number[] = [];
  for (let d = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1); new Date(d).getUTCMonth() === date.getUTCMonth(); d += dayMs) {
    if (days.includes(DAYS[new Date(d).getUTCDay()])) inMonth.push(d);
  }
  const index = INDEXES.indexOf(pattern.index ?? 'first');
  return (index === 4 ? inMonth[inMonth.length - 1] : inMonth[index]) === day;
}

/**
 * The original start instants (ms) of a series' occurrences up to `until`: each at the series'
 * wall-clock start time in its zone (so daylight saving time does not move them).
 */
export function occurrenceStarts(recurrence: RecurrenceInput, firstStart: number, zone: string, until: number): number[] {
  const recurrenceZone = recurrence.range.recurrenceTimeZone ?? zone;
  const timeOfDay = instantToZoned(firstStart, recurrenceZone).slice(11);
  const startDate = dateOf(recurrence.range.startDate);
  const endDate = recurrence.range.type === 'endDate' && recurrence.range.endDate ? dateOf(recurrence.range.endDate) : Infinity;
  const count = recurrence.range.type === 'numbered' ? (recurrence.range.numberOfOccurrences ?? 1) : Infinity;
  const starts: number[] = [];
  // Ten years at most, whatever `until` says: a series without end cannot run the loop forever.
  const last = Math.min(endDate, startDate + 3653 * dayMs);
  for (let day = startDate; day <= last && starts.length < count; day += dayMs) {
    if (!matches(recurrence.pattern, startDate, day)) continue;
    const at = zonedToInstant(`${isoDate(day)}T${timeOfDay}`, recurrenceZone);
    if (at > until) break;
    if (at >= firstStart) starts.push(at);
  }
  return starts;
}
