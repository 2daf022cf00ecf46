/**
 * The calendar window item sync reads: days back and ahead of today (organisation settings
 * itemsCalendarDaysBack and itemsCalendarDaysAhead). A calendar's change tracking keeps the window
 * it began with (Graph's calendarView/delta keeps its start and end), so a round begun long ago no
 * longer covers today's window: a new round starts once the window it covers has drifted a week, or
 * at once when the setting changed.
 */
export interface CalendarWindow {
  daysBack: number;
  daysAhead: number;
}

export const DEFAULT_CALENDAR_WINDOW: CalendarWindow = { daysBack: 30, daysAhead: 365 };

/** How far today's window may have moved from the one a round covers before a new round starts. */
export const CALENDAR_WINDOW_DRIFT_MS = 7 * 24 * 3600 * 1000;

const dayMs = 24 * 3600 * 1000;

/** The instants the window spans today (whole UTC days, so a round's window is the same all day). */
export function calendarSpan(now: number, window: CalendarWindow): { from: number; until: number } {
  const today = Math.floor(now / dayMs) * dayMs;
  return { from: today - window.daysBack * dayMs, until: today + window.daysAhead * dayMs };
}

/**
 * Whether change tracking over `covered` (null: a round from before windows were recorded) should
 * give way to a new round over `wanted`: its length changed (the setting), or it drifted past the limit.
 */
export function needsNewCalendarRound(covered: { from: number; until: number } | null, wanted: { from: number; until: number }): boolean {
  if (covered === null) return true;
  if (covered.until - covered.from !== wanted.until - wanted.from) return true;
  return Math.abs(wanted.from - covered.from) > CALENDAR_WINDOW_DRIFT_MS;
}
