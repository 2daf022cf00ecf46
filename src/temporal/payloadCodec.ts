import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { parseKeySpec } from '../secrets/keySpec';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';

const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (bytes: Uint8Array | null | undefined): string | undefined =>
  bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') : undefined;

/**
 * Encrypts every Temporal payload with AES-256-GCM, so workflow inputs, results, heartbeats,
 * signals, queries and (with the failure converter of `createDataConverter`) failure messages
 * are unreadable in Temporal's database and history.
 *
 * The whole original Payload (metadata included) is serialised and encrypted; the result is a
 * payload with `encoding: binary/encrypted`, `encryption-key-id: <keyId>` and data
 * `iv(12) | ciphertext | tag(16)`. Encryption uses the first key of the spec; decryption uses
 * the key named in the payload, so older keys still decrypt after a rotation.
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly keys: Map<string, Buffer>;
  private readonly activeKeyId: string;

  constructor(keySpec: string) {
    const { keys, activeKeyId } = parseKeySpec(keySpec);
    this.keys = keys;
    this.activeKeyId = activeKeyId;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => (utf8(payload.metadata?.encoding) === ENCRYPTED_ENCODING ? this.decrypt(payload) : payload));
  }

  private encrypt(payload: Payload): Payload {
    const plaintext = temporal.api.common.v1.Payload.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, this.keys.get(this.activeKeyId)!, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      metadata: {
        encoding: Buffer.from(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: Buffer.from(this.activeKeyId),
      },
      data: Buffer.concat([iv, ciphertext, cipher.getAuthTag()]),
    };
  }

  private decrypt(payload: Payload): Payload {
    const keyId = utf8(payload.metadata?.[KEY_ID_METADATA]);
    if (!keyId) throw new Error(`Encrypted Temporal payload has no ${KEY_ID_METADATA} metadata`);
    const key = this.keys.get(keyId);
    if (!key) {
      throw new Error(`Temporal payload was encrypted with key "${keyId}", which is not configured in SECRET_KEYS`);
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new Error(`Encrypted Temporal payload is too short (${data.length} bytes)`);
    const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new Error(`Temporal payload could not be decrypted with key "${keyId}": wrong key or tampered data`);
    }
    return temporal.api.common.v1.Payload.decode(plaintext);
  }
}
