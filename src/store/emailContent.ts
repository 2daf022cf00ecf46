import type { Pool, PoolClient } from 'pg';
import type { AttachmentInfo, CrmRecordRef, CrmRecordType } from '../domain/email';

// What an email activity is stored with, whichever way it came: synced from a mailbox
// (PgSyncStore) or queued to be sent from the CRM (PgCrmRecords).

// When one address is several CRM records, the first kind here wins.
const RESOLUTION_ORDER: CrmRecordType[] = ['user', 'queue', 'contact', 'lead', 'account'];

/** The CRM record each address is (lower-cased address -> record); addresses of none are left out. */
export async function resolveAddresses(db: Pool | PoolClient, addresses: string[]): Promise<Map<string, CrmRecordRef>> {
  const unique = [...new Set(addresses.map((a) => a.toLowerCase()))];
  const resolved = new Map<string, CrmRecordRef>();
  if (unique.length === 0) return resolved;
  const { rows } = await db.query(
    `SELECT 'user' AS type, id, lower(email) AS address FROM crm_users WHERE lower(email) = ANY($1)
     UNION ALL SELECT 'queue', id, lower(email) FROM crm_queues WHERE lower(email) = ANY($1)
     UNION ALL SELECT 'contact', id, lower(email) FROM contacts WHERE lower(email) = ANY($1)
     UNION ALL SELECT 'lead', id, lower(email) FROM leads WHERE lower(email) = ANY($1)
     UNION ALL SELECT 'account', id, lower(email) FROM accounts WHERE lower(email) = ANY($1)`,
    [unique],
  );
  const rank = (t: CrmRecordType) => RESOLUTION_ORDER.indexOf(t);
  for (const row of rows as { type: CrmRecordType; id: string; address: string }[]) {
    const current = resolved.get(row.address);
    if (!current || rank(row.type) < rank(current.type)) resolved.set(row.address, { type: row.type, id: row.id });
  }
  return resolved;
}

/** One activity's attachments: descriptions, and `content[i]` the decoded bytes of `attachments[i]`. */
export interface ActivityAttachments {
  emailActivityId: string;
  attachments: AttachmentInfo[];
  content: Buffer[];
}

/**
 * The attachments of new activities, each content once (by SHA-256) across all emails. One over
 * `maxBytes` is described only, `stored = false`. `storedContents`: the contents known to be in the
 * database already, when the caller has looked (they are not sent again); else this looks.
 */
export async function insertAttachments(db: PoolClient, activities: ActivityAttachments[], maxBytes: number, storedContents?: Set<string>): Promise<void> {
  const contents = new Map<string, Buffer>();
  const described = activities.flatMap(({ emailActivityId, attachments, content }) =>
    attachments.map((a, i) => {
      const stored = a.size <= maxBytes;
      if (stored) contents.set(a.sha256, content[i]);
      return { emailActivityId, position: i + 1, stored, ...a };
    }),
  );
  if (described.length === 0) return;
  const present = storedContents ?? new Set((await db.query(`SELECT sha256 FROM attachment_contents WHERE sha256 = ANY($1)`, [[...contents.keys()]])).rows.map((r) => r.sha256));
  // In one order, so two transactions inserting the same contents wait for each other instead of deadlocking.
  const missing = [...contents.keys()].filter((h) => !present.has(h)).sort();
  const bytes = missing.map((h) => contents.get(h)!);
  let end = 0;
  const starts = bytes.map((b) => (end += b.length) - b.length);
  // Contents end to end in one binary parameter: an array of bytea would travel as hex text, twice the
  // size, encoded and decoded. A description's content, new in the same statement, is checked at its end.
  await db.query(
    `WITH contents AS (
       INSERT INTO attachment_contents (sha256, size, content)
       SELECT c.sha256, c.size, substring($4::bytea FROM c.start + 1 FOR c.size)
         FROM unnest($1::text[], $2::integer[], $3::integer[]) AS c(sha256, size, start)
       ON CONFLICT DO NOTHING
     )
     INSERT INTO email_attachments (email_activity_id, position, filename, content_type, size, sha256, content_id, inline, stored)
     SELECT * FROM unnest($5::uuid[], $6::integer[], $7::text[], $8::text[], $9::integer[], $10::text[], $11::text[], $12::boolean[], $13::boolean[])`,
    [
      missing,
      bytes.map((b) => b.length),
      starts,
      Buffer.concat(bytes),
      described.map((a) => a.emailActivityId),
      described.map((a) => a.position),
      described.map((a) => a.filename),
      described.map((a) => a.contentType),
      described.map((a) => a.size),
      described.map((a) => a.sha256),
      described.map((a) => a.contentId),
      described.map((a) => a.inline),
      described.map((a) => a.stored),
    ],
  );
}
