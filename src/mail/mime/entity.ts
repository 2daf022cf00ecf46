import libmime from 'libmime';
import { type HeaderField, headerValue, splitHeaders } from './headers';

/** Deeper nesting than this is hostile, not mail: the rest is kept as one opaque part. */
const MAX_DEPTH = 50;
/** More parts than this in one message are kept as opaque parts too. */
const MAX_PARTS = 2_000;

/** One MIME entity (RFC 2045): a multipart with its children, or a leaf with its undecoded body. */
export interface MimeEntity {
  fields: HeaderField[];
  /** Lower-case type/subtype; the default of the context (RFC 2046) when none is given. */
  contentType: string;
  /** Content-Type parameters, lower-case names, RFC 2231 and encoded-words decoded. */
  params: Record<string, string>;
  disposition: string | null;
  dispositionParams: Record<string, string>;
  /** Lower-case Content-Transfer-Encoding, '7bit' when none. */
  transferEncoding: string;
  /** The body as it stands in the message (leaves only: a multipart's is split into `children`). */
  body: Buffer;
  children: MimeEntity[];
}

const RFC2231_DECODED = new WeakMap<Record<string, string>, Set<string>>();

/** The names of `params` that RFC 2231 encoding gave: already decoded text, unlike the others' raw bytes. */
export function rfc2231Decoded(params: Record<string, string>): Set<string> {
  return RFC2231_DECODED.get(params) ?? new Set();
}

function structured(value: string | null): { value: string; params: Record<string, string> } | null {
  if (value === null) return null;
  const parsed = libmime.parseHeaderValue(value);
  const params = parsed.params ?? {};
  if (parsed.decodedParams?.length) RFC2231_DECODED.set(params, new Set(parsed.decodedParams));
  return { value: (parsed.value ?? '').toLowerCase().trim(), params };
}

/** The bodies of a multipart's parts: between its delimiter lines, preamble and epilogue dropped (RFC 2046 §5.1.1). */
function splitMultipart(body: Buffer, boundary: string): Buffer[] | null {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const parts: Buffer[] = [];
  let partStart = -1;
  for (let at = body.indexOf(delimiter); at !== -1; at = body.indexOf(delimiter, at + delimiter.length)) {
    if (at > 0 && body[at - 1] !== 10) continue;
    let after = at + delimiter.length;
    const closing = body[after] === 45 && body[after + 1] === 45;
    if (closing) after += 2;
    // Only transport padding may follow the delimiter on its line: "--foo_bar" is not a "--foo" line.
    let lineEnd = after;
    while (body[lineEnd] === 32 || body[lineEnd] === 9) lineEnd++;
    if (lineEnd < body.length && body[lineEnd] !== 13 && body[lineEnd] !== 10) continue;
    if (partStart !== -1) {
      // The line break before a delimiter belongs to the delimiter.
      let partEnd = at;
      if (body[partEnd - 1] === 10) partEnd--;
      if (body[partEnd - 1] === 13) partEnd--;
      parts.push(body.subarray(partStart, Math.max(partStart, partEnd)));
    }
    if (closing) return parts;
    partStart = body[lineEnd] === 13 && body[lineEnd + 1] === 10 ? lineEnd + 2 : lineEnd + 1;
  }
  if (partStart === -1) return null;
  // No closing delimiter: the last part runs to the end.
  parts.push(body.subarray(Math.min(partStart, body.length)));
  return parts;
}

/** Parses `raw` into its MIME tree. */
export function parseEntity(raw: Buffer): MimeEntity {
  const budget = { parts: MAX_PARTS };
  return parse(raw, 'text/plain', 0, budget);
}

function parse(raw: Buffer, defaultType: string, depth: number, budget: { parts: number }): MimeEntity {
  budget.parts--;
  const { fields, bodyStart } = splitHeaders(raw);
  const type = structured(headerValue(fields, 'content-type'));
  // A Content-Type without a subtype is unreadable: RFC 2045 §5.2 falls back to the default type
  // (its parameters stay: the charset of "Content-Type: text; charset=koi8-r" is still right).
  const explicit = type !== null && /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type.value);
  const disposition = structured(headerValue(fields, 'content-disposition'));
  const entity: MimeEntity = {
    fields,
    contentType: explicit ? type.value : defaultType,
    params: type?.params ?? {},
    disposition: disposition?.value || null,
    dispositionParams: disposition?.params ?? {},
    transferEncoding: (headerValue(fields, 'content-transfer-encoding') ?? '7bit').toLowerCase().replace(/[^a-z0-9-]/g, '') || '7bit',
    body: raw.subarray(bodyStart),
    children: [],
  };
  const boundary = entity.params.boundary;
  if (!entity.contentType.startsWith('multipart/') || !boundary || depth >= MAX_DEPTH || budget.parts <= 0) return entity;
  const parts = splitMultipart(entity.body, boundary);
  // A multipart whose boundary never occurs is read as the text it then is.
  if (parts === null) {
    entity.contentType = 'text/plain';
    return entity;
  }
  // RFC 2046 §5.1.5: in a digest, a part without Content-Type is a message/rfc822.
  const childDefault = entity.contentType === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
  for (const part of parts) {
    if (budget.parts <= 0) break;
    entity.children.push(parse(part, childDefault, depth + 1, budget));
  }
  entity.body = Buffer.alloc(0);
  return entity;
}

/** The body with its Content-Transfer-Encoding undone. */
export function decodeTransfer(entity: MimeEntity): Buffer {
  switch (entity.transferEncoding) {
    case 'base64':
      return Buffer.from(entity.body.toString('latin1'), 'base64');
    case 'quoted-printable':
      return decodeQuotedPrintable(entity.body);
    default:
      return entity.body;
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** RFC 2045 §6.7; a "=" that starts no valid escape is kept as it stands, as §6.7 (1) suggests. */
function decodeQuotedPrintable(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(body.length);
  let n = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== 61) {
      out[n++] = c;
      continue;
    }
    // Soft line break: "=" then optional whitespace then the line end.
    let j = i + 1;
    while (body[j] === 32 || body[j] === 9) j++;
    if (body[j] === 10 || (body[j] === 13 && body[j + 1] === 10) || j >= body.length) {
      i = body[j] === 13 ? j + 1 : j;
      continue;
    }
    const hi = hexValue(body[i + 1]);
    const lo = hexValue(body[i + 2]);
    if (hi >= 0 && lo >= 0) {
      out[n++] = hi * 16 + lo;
      i += 2;
    } else {
      out[n++] = c;
    }
  }
  return out.subarray(0, n);
}
