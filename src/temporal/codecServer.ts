import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';

/** A payload in proto3 JSON, as Temporal UI and CLI send it: every bytes value base64. */
export interface JsonPayload {
  metadata: Record<string, string>;
  data: string;
}

const JsonPayloadSchema = z.object({
  metadata: z.record(z.string(), z.base64({ message: 'metadata values must be base64' })).nullish(),
  data: z.base64({ message: 'data must be base64' }).nullish(),
});

// proto3 JSON leaves out an empty repeated field: the Temporal CLI posts `{}` for no payloads.
const CodecRequestSchema = z.object({ payloads: z.array(JsonPayloadSchema).default([]) });

export class CodecRequestError extends Error {
  readonly statusCode = 400;
}

function fromJson(p: z.infer<typeof JsonPayloadSchema>): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

// Not only Uint8Array: a protobuf-decoded payload without data has a plain empty array there.
const base64 = (bytes: Uint8Array | number[] | null | undefined) => (bytes ? Buffer.from(bytes).toString('base64') : '');

function toJson(p: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, base64(v)])),
    data: base64(p.data),
  };
}

/**
 * Temporal's remote codec protocol (what Temporal UI and `temporal --codec-endpoint` POST to
 * `<endpoint>/encode` and `<endpoint>/decode`), independent of any HTTP framework: the body is
 * `{ payloads: [{ metadata: { key: base64 }, data: base64 }] }` (`{}` for none) and so is the answer.
 *
 * A malformed body throws an Error with `statusCode = 400`. Errors of the codec itself (for
 * example a payload encrypted with a key no longer configured) are thrown unchanged.
 * Authentication is the caller's job: whoever can call this can read every payload.
 */
export async function handleCodecRequest(
  codec: PayloadCodec,
  operation: 'encode' | 'decode',
  body: unknown,
): Promise<{ payloads: JsonPayload[] }> {
  if (operation !== 'encode' && operation !== 'decode') {
    throw new CodecRequestError(`Unknown codec operation "${String(operation)}": expected encode or decode`);
  }
  const parsed = CodecRequestSchema.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    throw new CodecRequestError(`Invalid codec request: ${problems}`);
  }
  const payloads = parsed.data.payloads.map(fromJson);
  const result = operation === 'encode' ? await codec.encode(payloads) : await codec.decode(payloads);
  return { payloads: result.map(toJson) };
}
