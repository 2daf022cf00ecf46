import { decodeCharset, isKnownCharset } from './charset';

/** One header field: lower-case name and its unfolded value as a binary (one char per byte) string. */
export interface HeaderField {
  name: string;
  value: string;
}

export interface HeaderBlock {
  fields: HeaderField[];
  /** Offset of the body: just past the blank line that ends the header block. */
  bodyStart: number;
}

/** Splits the header block off the front of an entity. A block with no blank line after it runs to the end. */
export function splitHeaders(raw: Buffer): HeaderBlock {
  // A message that opens with the blank line has no headers at all.
  if (raw[0] === 10 || (raw[0] === 13 && raw[1] === 10)) return { fields: [], bodyStart: raw[0] === 10 ? 1 : 2 };
  let end = -1;
  let bodyStart = raw.length;
  for (let i = raw.indexOf(10); i !== -1; i = raw.indexOf(10, i + 1)) {
    const next = raw[i + 1] === 13 ? i + 2 : i + 1;
    if (raw[next] === 10) {
      end = i;
      bodyStart = next + 1;
      break;
    }
  }
  const text = raw.toString('latin1', 0, end === -1 ? raw.length : end);
  const fields: HeaderField[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && fields.length > 0) {
      // Unfolding (RFC 5322 §2.2.3) removes the line break; the fold's tab reads as a space.
      fields[fields.length - 1].value += line.replace(/^\t/, ' ');
      continue;
    }
    const colon = line.indexOf(':');
    // A line that is no field (an mbox "From " line, junk) cannot be given a name: it is skipped.
    if (colon <= 0 || /[\s]/.test(line.slice(0, colon).trimEnd())) continue;
    fields.push({ name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).replace(/\r$/, '') });
  }
  for (const f of fields) f.value = f.value.trim();
  return { fields, bodyStart };
}

export function headerValue(fields: HeaderField[], name: string): string | null {
  return fields.find((f) => f.name === name)?.value ?? null;
}

const ENCODED_WORD = /=\?([^?\s]+)\?([bq])\?([^?\s]*)\?=/gi;

function wordBytes(encoding: string, text: string): Buffer {
  if (encoding.toLowerCase() === 'b') return Buffer.from(text, 'base64');
  return Buffer.from(
    text.replace(/_/g, ' ').replace(/=([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  );
}

/**
 * Decodes RFC 2047 encoded-words, UTF-7 ones included. Adjacent words of one charset are joined before
 * decoding, as mailers split multi-byte characters across them; the whitespace between words goes.
 * A word in a charset nobody knows is read like undeclared bytes, with `undeclared`.
 */
export function decodeEncodedWords(text: string, undeclared: (bytes: Buffer) => string): string {
  if (!text.includes('=?')) return text;
  let out = '';
  let last = 0;
  let runCharset: string | null = null;
  let runBytes: Buffer[] = [];
  const endRun = () => {
    if (runCharset !== null) {
      const bytes = Buffer.concat(runBytes);
      out += isKnownCharset(runCharset) ? decodeCharset(bytes, runCharset) : undeclared(bytes);
    }
    runCharset = null;
    runBytes = [];
  };
  for (const m of text.matchAll(ENCODED_WORD)) {
    const between = text.slice(last, m.index);
    last = m.index + m[0].length;
    // RFC 2231 §5: a language may follow the charset after "*".
    const charset = m[1].split('*')[0].toLowerCase();
    const adjacent = runCharset !== null && /^\s*$/.test(between);
    if (!adjacent || runCharset !== charset) {
      endRun();
      if (!adjacent) out += between;
    }
    runCharset = charset;
    runBytes.push(wordBytes(m[2], m[3]));
  }
  endRun();
  return out + text.slice(last);
}
