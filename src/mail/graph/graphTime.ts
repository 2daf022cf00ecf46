import type { DateTimeTimeZone } from '@microsoft/microsoft-graph-types';

/**
 * Graph's dateTimeTimeZone (a wall-clock time without offset, and a zone that may be an IANA or a
 * Windows name) <-> instants, pure. The CRM keeps instants (ISO 8601, UTC) and IANA zones.
 */

/** Windows zone names Exchange writes for the common IANA zones (CLDR windowsZones, the "001" territory). */
const WINDOWS_ZONES: Record<string, string> = {
  UTC: 'UTC',
  'Coordinated Universal Time': 'UTC',
  'tzone://Microsoft/Utc': 'UTC',
  'GMT Standard Time': 'Europe/London',
  'Greenwich Standard Time': 'Atlantic/Reykjavik',
  'W. Europe Standard Time': 'Europe/Berlin',
  'Romance Standard Time': 'Europe/Paris',
  'Central Europe Standard Time': 'Europe/Budapest',
  'Central European Standard Time': 'Europe/Warsaw',
  'E. Europe Standard Time': 'Europe/Chisinau',
  'FLE Standard Time': 'Europe/Kiev',
  'GTB Standard Time': 'Europe/Bucharest',
  'Russian Standard Time': 'Europe/Moscow',
  'Turkey Standard Time': 'Europe/Istanbul',
  'Israel Standard Time': 'Asia/Jerusalem',
  'South Africa Standard Time': 'Africa/Johannesburg',
  'Arabian Standard Time': 'Asia/Dubai',
  'India Standard Time': 'Asia/Kolkata',
  'China Standard Time': 'Asia/Shanghai',
  'Singapore Standard Time': 'Asia/Singapore',
  'Tokyo Standard Time': 'Asia/Tokyo',
  'Korea Standard Time': 'Asia/Seoul',
  'AUS Eastern Standard Time': 'Australia/Sydney',
  'New Zealand Standard Time': 'Pacific/Auckland',
  'Eastern Standard Time': 'America/New_York',
  'Central Standard Time': 'America/Chicago',
  'Mountain Standard Time': 'America/Denver',
  'US Mountain Standard Time': 'America/Phoenix',
  'Pacific Standard Time': 'America/Los_Angeles',
  'Alaskan Standard Time': 'America/Anchorage',
  'Hawaiian Standard Time': 'Pacific/Honolulu',
  'Atlantic Standard Time': 'America/Halifax',
  'E. South America Standard Time': 'America/Sao_Paulo',
};

export function isIanaZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The IANA zone of a Graph zone name; null when it is neither IANA nor a Windows name known here. */
export function ianaZone(zone: string | null | undefined): string | null {
  if (!zone) return null;
  if (WINDOWS_ZONES[zone]) return WINDOWS_ZONES[zone];
  return isIanaZone(zone) ? zone : null;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Milliseconds the zone is ahead of UTC at this instant. */
function zoneOffset(at: number, zone: string): number {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(zone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(new Date(at)).map((p) => [p.type, p.value]));
  const wall = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return wall - (at - (at % 1000 + 1000) % 1000);
}

/** The instant of a wall-clock time (`YYYY-MM-DDTHH:mm:ss[.fff]`) in an IANA zone. */
export function zonedToInstant(wallClock: string, zone: string): number {
  const asUtc = Date.parse(`${wallClock.replace(/(\.\d{3})\d*$/, '$1')}Z`);
  let at = asUtc - zoneOffset(asUtc, zone);
  // Once more near a change of offset (the first guess used the offset at the wrong instant).
  at = asUtc - zoneOffset(at, zone);
  return at;
}

/** The wall-clock time (`YYYY-MM-DDTHH:mm:ss`) of an instant in an IANA zone. */
export function instantToZoned(at: number, zone: string): string {
  return new Date(at + zoneOffset(at, zone)).toISOString().slice(0, 19);
}

/** A Graph date-time -> an ISO instant; a zone this cannot read is taken as UTC. */
export function fromGraphDateTime(value: DateTimeTimeZone | null | undefined): string | null {
  if (!value?.dateTime) return null;
  const zone = ianaZone(value.timeZone) ?? 'UTC';
  if (/[zZ]|[+-]\d\d:\d\d$/.test(value.dateTime)) return new Date(Date.parse(value.dateTime)).toISOString();
  return new Date(zonedToInstant(value.dateTime, zone)).toISOString();
}

/** An ISO instant -> a Graph date-time in `zone` (IANA). */
export function toGraphDateTime(iso: string, zone = 'UTC'): DateTimeTimeZone {
  return { dateTime: instantToZoned(Date.parse(iso), zone), timeZone: zone };
}
