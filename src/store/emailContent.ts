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
 * `maxBytes` is described only, `stored = false`.
 */
export async function insertAttachments(db: PoolClient, activities: ActivityAttachments[], maxBytes: number): Promise<void> {
  const contents = new Map<string, Buffer>();
  const attachments = activities.flatMap(({ emailActivityId, attachments: described, content }) =>
    described.map((a, i) => {
      const stored = a.size <= maxBytes;
      if (stored) contents.set(a.sha256, content[i]);
      return {
        email_activity_id: emailActivityId,
        position: i + 1,
        filename: a.filename,
        content_type: a.contentType,
        size: a.size,
        sha256: a.sha256,
        content_id: a.contentId,
        inline: a.inline,
        stored,
      };
    }),
  );
  if (attachments.length === 0) return;
  if (contents.size > 0) {
    const { rows: present } = await db.query(`SELECT sha256 FROM attachment_contents WHERE sha256 = ANY($1)`, [[...contents.keys()]]);
    for (const r of present) contents.delete(r.sha256);
    // In one order, so two transactions inserting the same contents wait for each other instead of deadlocking.
    const missing = [...contents.keys()].sort();
    if (missing.length > 0) {
      await db.query(
        `INSERT INTO attachment_contents (sha256, size, content)
         SELECT * FROM unnest($1::text[], $2::integer[], $3::bytea[]) ON CONFLICT DO NOTHING`,
        [missing, missing.map((h) => contents.get(h)!.length), missing.map((h) => contents.get(h)!)],
      );
    }
  }
  await db.query(
    `INSERT INTO email_attachments (email_activity_id, position, filename, content_type, size, sha256, content_id, inline, stored)
     SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(email_activity_id uuid, position integer, filename text, content_type text,
            size integer, sha256 text, content_id text, inline boolean, stored boolean)`,
    [JSON.stringify(attachments)],
  );
}
