import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseKeySpec } from './keySpec';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const FORMAT = 'v1';

/**
 * AES-256-GCM encryption of secrets at rest. Ciphertexts name the key that made them
 * (`v1:<keyId>:<iv>:<tag>:<data>`), so keys can be rotated: put the new key first, keep
 * the old ones after it until `cli rotate-secrets` has re-encrypted every row.
 */
export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  private readonly activeKeyId: string;

  constructor(keySpec: string) {
    const parsed = parseKeySpec(keySpec);
    this.keys = parsed.keys;
    this.activeKeyId = parsed.activeKeyId;
  }

  static generateKeySpec(keyId = `k${Date.now()}`): string {
    return `${keyId}:${randomBytes(KEY_BYTES).toString('base64')}`;
  }

  /** Keys from SECRET_KEYS, else from a local key file that is created on first use (development). */
  static fromConfig(cfg: { keys?: string; keyFile: string }): SecretBox {
    return new SecretBox(loadKeySpec(cfg));
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.activeKeyId)!, iv);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [FORMAT, this.activeKeyId, iv.toString('base64'), cipher.getAuthTag().toString('base64'), data.toString('base64')].join(':');
  }

  decrypt(sealed: string): string {
    const [format, keyId, iv, tag, data] = sealed.split(':');
    if (format !== FORMAT || data === undefined) throw new Error('Not a sealed secret');
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`Secret was sealed with key "${keyId}", which is not configured in SECRET_KEYS`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8');
  }

  /** True when `sealed` was made with an older key and should be re-encrypted. */
  needsRotation(sealed: string): boolean {
    return sealed.split(':')[1] !== this.activeKeyId;
  }
}

/** The key spec from SECRET_KEYS, else from a local key file that is created on first use (development). */
export function loadKeySpec(cfg: { keys?: string; keyFile: string }): string {
  if (cfg.keys) return cfg.keys;
  if (!existsSync(cfg.keyFile)) {
    mkdirSync(path.dirname(cfg.keyFile), { recursive: true });
    writeFileSync(cfg.keyFile, SecretBox.generateKeySpec() + '\n', { mode: 0o600 });
  }
  return readFileSync(cfg.keyFile, 'utf8');
}
