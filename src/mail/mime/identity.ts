import { createHash } from 'node:crypto';
import { splitHeaders } from './headers';

/** Longest Message-ID kept as written; longer ones would not fit a btree index entry. */
const MAX_MESSAGE_ID_CHARS = 500;

/**
 * The key that dedupes a message seen in several mailboxes: its Message-ID when it has a usable one,
 * else a digest of its full raw content, so two different messages never merge while the same bytes
 * delivered twice still do. An over-long Message-ID is replaced by its own digest.
 */
export function messageIdentity(messageId: string | null, raw: Buffer): string {
  const id = messageId?.trim();
  if (id && id.length <= MAX_MESSAGE_ID_CHARS) return id;
  const digest = id ? sha256(Buffer.from(id, 'utf8')) : sha256(raw);
  return `<${digest}@${id ? 'long-id' : 'no-id'}.crm-sync.invalid>`;
}

/**
 * Header fields that differ between copies of one message: what each hop and each delivery adds
 * (RFC 5321 §4.4 trace fields, delivery and filtering stamps), and the Bcc only the sender's copy has.
 */
const COPY_SPECIFIC = /^(?:received|return-path|delivered-to|x-original-to|x-envelope-(?:from|to)|envelope-to|bcc|resent-bcc|x-received|arc-[a-z-]+|authentication-results|received-spf|x-spam-[a-z-]+|x-virus-[a-z-]+|x-ms-exchange-[a-z-]+|x-gm-[a-z-]+|x-google-smtp-source|x-forwarded-(?:to|for)|x-uid|x-keywords|x-status|status|x-mozilla-status2?|lines|content-length|xref)$/;

/** A header field (lower-case name) that differs between copies of one message. */
export function isCopySpecificField(name: string): boolean {
  return COPY_SPECIFIC.test(name);
}

/**
 * A digest of the message as its sender wrote it: the header fields in order, except those that
 * differ between copies, then the body. Two copies of one message share it; two different messages
 * that reuse one Message-ID do not.
 */
export function contentDigest(raw: Buffer): string {
  const { fields, bodyStart } = splitHeaders(raw);
  const hash = createHash('sha256');
  for (const f of fields) {
    if (isCopySpecificField(f.name)) continue;
    // Refolding on the way is no change of content: whitespace runs count as one space.
    hash.update(`${f.name}:${f.value.replace(/\s+/g, ' ')}\n`, 'latin1');
  }
  hash.update('\n');
  hash.update(normalisedBody(raw.subarray(bodyStart)));
  return hash.digest('hex');
}

/**
 * The body with what stores change removed: line endings (LF on disk, CRLF on the wire), whitespace
 * at the end of lines and blank lines at the end. One linear pass, whatever the bytes.
 */
export function normalisedBody(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(body.length);
  let n = 0;
  // Where `out` ends if the line being copied turns out to end here: before its trailing blanks.
  let lineEnd = 0;
  let contentEnd = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === 10) {
      n = lineEnd;
      out[n++] = 10;
      lineEnd = n;
    } else if (c === 13 || c === 32 || c === 9) {
      out[n++] = c;
    } else {
      out[n++] = c;
      lineEnd = n;
      contentEnd = n;
    }
  }
  return out.subarray(0, contentEnd);
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
