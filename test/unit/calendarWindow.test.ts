import { calendarSpan, DEFAULT_CALENDAR_WINDOW, needsNewCalendarRound } from '../../src/policy/calendarWindow';

const day = 24 * 3600 * 1000;
const now = Date.parse('2026-12-01T15:30:00Z');

describe('the calendar window', () => {
  it('spans whole UTC days back and ahead of today, the same all day', () => {
    expect(calendarSpan(now, DEFAULT_CALENDAR_WINDOW)).toEqual({ from: Date.parse('2026-11-01T00:00:00Z'), until: Date.parse('2027-12-01T00:00:00Z') });
    expect(calendarSpan(now + 8 * 3600 * 1000, DEFAULT_CALENDAR_WINDOW)).toEqual(calendarSpan(now, DEFAULT_CALENDAR_WINDOW));
  });

  it('keeps a round while its window is within a week of today', () => {
    const covered = calendarSpan(now, DEFAULT_CALENDAR_WINDOW);
    expect(needsNewCalendarRound(covered, calendarSpan(now + 7 * day, DEFAULT_CALENDAR_WINDOW))).toBe(false);
    expect(needsNewCalendarRound(covered, calendarSpan(now + 8 * day, DEFAULT_CALENDAR_WINDOW))).toBe(true);
  });

  it('starts a new round at once when the window setting changed, or for a round with no window recorded', () => {
    const covered = calendarSpan(now, DEFAULT_CALENDAR_WINDOW);
    expect(needsNewCalendarRound(covered, calendarSpan(now, { daysBack: 30, daysAhead: 366 }))).toBe(true);
    expect(needsNewCalendarRound(covered, calendarSpan(now, { daysBack: 31, daysAhead: 365 }))).toBe(true);
    expect(needsNewCalendarRound(null, covered)).toBe(true);
  });
});
