const KEY_BYTES = 32;

export interface KeySpec {
  /** The key that encrypts: the first one of the spec. */
  activeKeyId: string;
  /** Every configured key by id; all of them decrypt (key rotation). */
  keys: Map<string, Buffer>;
}

/**
 * Parses a key spec, `keyId:base64key,keyId2:base64key` (SECRET_KEYS or the key file): 32-byte
 * AES-256 keys, the first one active. Blank entries and surrounding whitespace are ignored.
 */
export function parseKeySpec(spec: string): KeySpec {
  const entries = spec.split(',').map((s) => s.trim()).filter(Boolean).map((entry) => {
    const sep = entry.indexOf(':');
    if (sep <= 0) throw new Error('SECRET_KEYS entries must look like keyId:base64key');
    const id = entry.slice(0, sep);
    const key = Buffer.from(entry.slice(sep + 1), 'base64');
    if (key.length !== KEY_BYTES) throw new Error(`Secret key "${id}" must be ${KEY_BYTES} bytes (base64), got ${key.length}`);
    return [id, key] as const;
  });
  if (entries.length === 0) throw new Error('SECRET_KEYS names no key');
  return { activeKeyId: entries[0][0], keys: new Map(entries) };
}
