const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** RFC 5322 §4.3 obsolete zone names; military letters and unknown names carry no offset (§4.3: "-0000"). */
const NAMED_ZONES: Record<string, number> = { ut: 0, gmt: 0, z: 0, edt: -4, est: -5, cdt: -5, cst: -6, mdt: -6, mst: -7, pdt: -7, pst: -8 };

// [day-of-week ","] day month year hour ":" minute [":" second] zone, with the obsolete forms' looser spacing.
const RFC5322_DATE =
  /^(?:[a-z]{3}[a-z]*\s*,?\s*)?(\d{1,2})\s*([a-z]{3})[a-z]*\.?\s*(\d{2,4})\s+(\d{1,2})\s*:\s*(\d{2})(?:\s*:\s*(\d{2}))?\s*(?:([+-])(\d{2})(\d{2})|([a-z]{1,5}))?$/i;

/**
 * The instant a Date header states, or null when it states none: the header is missing, empty or
 * not an RFC 5322 date (with its obsolete forms). Never a guess such as "now" or local time.
 */
export function parseMailDate(value: string | null): Date | null {
  // No date is this long; a hostile one must not feed the pattern's backtracking.
  if (value === null || value.length > 200) return null;
  // Comments such as "(PST)" are not part of the value.
  const text = value.replace(/\([^()]*\)/g, ' ').replace(/\s+/g, ' ').trim();
  const m = RFC5322_DATE.exec(text);
  if (!m) return null;
  const [, day, monthName, yearText, hour, minute, second, sign, zoneHours, zoneMinutes, zoneName] = m;
  const month = MONTHS.indexOf(monthName.toLowerCase());
  let year = Number(yearText);
  // RFC 5322 §4.3: two-digit years below 50 are 20xx, others 19xx; three-digit years add 1900.
  if (yearText.length === 2) year += year < 50 ? 2000 : 1900;
  else if (yearText.length === 3) year += 1900;
  let offsetMinutes = 0;
  if (sign) {
    if (Number(zoneMinutes) > 59) return null;
    offsetMinutes = (sign === '-' ? -1 : 1) * (Number(zoneHours) * 60 + Number(zoneMinutes));
  } else if (zoneName) {
    const known = NAMED_ZONES[zoneName.toLowerCase()];
    if (known === undefined && zoneName.length > 1) return null;
    offsetMinutes = (known ?? 0) * 60;
  }
  const [d, h, min, s] = [Number(day), Number(hour), Number(minute), Number(second ?? 0)];
  if (month < 0 || d < 1 || d > 31 || h > 23 || min > 59 || s > 60) return null;
  const local = Date.UTC(year, month, d, h, min, Math.min(s, 59));
  // 31 Feb and the like roll over in Date.UTC; a date that rolled over is not the one written.
  if (new Date(local).getUTCDate() !== d) return null;
  const instant = new Date(local - offsetMinutes * 60_000);
  return Number.isNaN(instant.getTime()) ? null : instant;
}
