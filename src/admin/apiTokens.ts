import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { InvalidRequestError, NotFoundError } from './errors';

/** Who a request acts as: the token's id, its role, and the CRM user it belongs to (if any). */
export interface Principal {
  tokenId: string;
  role: 'admin' | 'user';
  userId: string | null;
}

export const TOKEN_PREFIX = 'cms_';
const TOKEN_BYTES = 32;
/** `cms_` and 32 random bytes in base64url (43 characters, no padding). */
const TOKEN_PATTERN = /^cms_[A-Za-z0-9_-]{43}$/;

export const NewApiToken = z
  .object({
    role: z.enum(['admin', 'user']),
    userId: z.uuid().optional(),
    label: z.string().min(1).max(200).optional(),
  })
  .refine((t) => t.role === 'admin' || t.userId !== undefined, {
    message: 'A user-role token needs the id of the user it acts for',
    path: ['userId'],
  });

const sha256 = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * Bearer tokens of the admin API. A token is shown once, when it is created; only its SHA-256
 * is stored (`api_tokens.token_hash`), so a copy of the database does not hold usable tokens.
 * Admin tokens may do everything; user tokens act for one CRM user, on that user's own mailbox.
 */
export class ApiTokens {
  constructor(private readonly pool: Pool) {}

  async create(input: z.input<typeof NewApiToken>): Promise<{ id: string; token: string }> {
    const parsed = NewApiToken.safeParse(input);
    if (!parsed.success) {
      throw new InvalidRequestError(`Invalid token request: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ')}`);
    }
    const { role, userId, label } = parsed.data;
    const token = TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString('base64url');
    try {
      const { rows } = await this.pool.query(
        `INSERT INTO api_tokens (token_hash, role, user_id, label) VALUES ($1, $2, $3, $4) RETURNING id`,
        [sha256(token), role, userId ?? null, label ?? null],
      );
      return { id: rows[0].id, token };
    } catch (err) {
      if ((err as { code?: string }).code === '23503') throw new NotFoundError('User', userId ?? '');
      throw err;
    }
  }

  /** The token's principal, or null when the token is malformed, unknown or revoked. */
  async authenticate(token: string): Promise<Principal | null> {
    if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) return null;
    const { rows } = await this.pool.query(
      `SELECT id, role, user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL`,
      [sha256(token)],
    );
    const row = rows[0];
    if (!row) return null;
    return { tokenId: row.id, role: row.role, userId: row.user_id };
  }

  /** Revokes the token at once: the next request made with it is refused. Revoking twice is harmless. */
  async revoke(id: string): Promise<void> {
    if (!z.uuid().safeParse(id).success) throw new NotFoundError('API token', id);
    const { rowCount } = await this.pool.query(`UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1`, [id]);
    if (!rowCount) throw new NotFoundError('API token', id);
  }
}
