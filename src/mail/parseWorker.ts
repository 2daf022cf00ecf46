import { parseMimeMessage } from './mimeParser';

/** A parse-pool thread's task: the raw message arrives as a Uint8Array view of transferred memory. */
export default function parse(raw: Uint8Array) {
  return parseMimeMessage(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
}
