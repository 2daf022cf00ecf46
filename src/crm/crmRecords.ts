import type { Pool } from 'pg';
import type { z } from 'zod';
import { AdminError, ConflictError, InvalidRequestError, NotFoundError } from '../admin/errors';
import {
  AccountPatch,
  ContactPatch,
  EmailActivityQuery,
  LeadPatch,
  NewAccount,
  NewContact,
  NewLead,
  NewQueue,
  QueuePatch,
  RecordQuery,
} from '../admin/crmSchemas';
import { inTransaction } from '../store/pgSyncStore';

/**
 * The CRM side the sync resolves addresses against and writes email activities to, for
 * administrators: contacts, leads, accounts and queues (create, list, read, edit, delete) and the email
 * activities with their parties (list, read). An interface, so that a CRM with another schema
 * can plug in; PgCrmRecords is the implementation for this product's own tables.
 */
export interface CrmRecords {
  contacts: RecordStore<Contact, typeof NewContact, typeof ContactPatch>;
  leads: RecordStore<Lead, typeof NewLead, typeof LeadPatch>;
  accounts: RecordStore<Account, typeof NewAccount, typeof AccountPatch>;
  queues: RecordStore<Queue, typeof NewQueue, typeof QueuePatch>;
  emails: EmailActivities;
}

export interface RecordStore<View, New extends z.ZodType, Patch extends z.ZodType> {
  /** What one record is called in messages ("Contact"). */
  readonly kind: string;
  create(input: z.input<New>): Promise<View>;
  list(query: z.input<typeof RecordQuery>): Promise<View[]>;
  get(id: string): Promise<View>;
  update(id: string, patch: z.input<Patch>): Promise<View>;
  /** Deletes the record; email parties that resolved to it stay, unresolved. */
  delete(id: string): Promise<void>;
}

export interface Contact {
  id: string;
  fullName: string;
  email: string | null;
  accountId: string | null;
  createdAt: Date;
}

export interface Lead {
  id: string;
  fullName: string;
  email: string | null;
  company: string | null;
  createdAt: Date;
}

export interface Account {
  id: string;
  name: string;
  email: string | null;
  createdAt: Date;
}

/** A shared address (support@): its mailbox's incoming mail becomes its queue items. */
export interface Queue {
  id: string;
  name: string;
  email: string;
  /** Which incoming messages of its mailbox become email activities (src/policy/tracking.ts). */
  trackingOption: string;
  createdAt: Date;
}

export interface EmailParty {
  role: string;
  /** Null for a party named without an address (kept unresolved, by its name). */
  address: string | null;
  displayName: string | null;
  partyType: string | null;
  partyId: string | null;
}

export interface EmailActivitySummary {
  id: string;
  messageId: string;
  direction: string;
  subject: string | null;
  /** The Date header's instant; null when the message has none or it cannot be read. */
  sentAt: Date | null;
  /** When the mail server received it (IMAP INTERNALDATE). */
  receivedAt: Date | null;
  sizeBytes: number | null;
  createdAt: Date;
  /** The first activity with this Message-ID, when this one is a different message reusing it. */
  variantOf: string | null;
  /** The mailboxes it was synced from. */
  mailboxIds: string[];
  parties: EmailParty[];
}

export interface EmailAttachment {
  /** 1 for the message's first attachment. */
  position: number;
  filename: string | null;
  contentType: string;
  size: number;
  /** SHA-256 of the content, hex; null for one synced before contents were kept. */
  sha256: string | null;
  contentId: string | null;
  inline: boolean;
  /** False: described only, its content not kept (over the size limit when synced). */
  stored: boolean;
}

export interface EmailActivity extends EmailActivitySummary {
  bodyText: string | null;
  /** Sanitised for display: nothing in it runs or loads from elsewhere. */
  bodyHtml: string | null;
  inReplyTo: string | null;
  references: string[];
  /** Other activities with this Message-ID: different messages that reuse it. */
  variants: string[];
  attachments: EmailAttachment[];
}

export interface EmailActivityPage {
  items: EmailActivitySummary[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface EmailActivities {
  list(query: z.input<typeof EmailActivityQuery>): Promise<EmailActivityPage>;
  get(id: string): Promise<EmailActivity>;
  /** The mailboxes the activity was synced from (for access checks). */
  mailboxIds(id: string): Promise<string[]>;
  attachments(id: string): Promise<EmailAttachment[]>;
  /** One attachment with its content; 404 for one whose content is not kept. */
  attachmentContent(id: string, position: number): Promise<{ attachment: EmailAttachment; content: Buffer }>;
}

// PostgreSQL ---------------------------------------------------------------------------------

/** A record table: its name, the party type sync gives its rows, and field -> column. */
interface TableSpec {
  kind: string;
  table: string;
  partyType: string;
  columns: Record<string, string>;
  /** The unique index on lower(email), when addresses are unique: a duplicate is a conflict. */
  uniqueEmail?: string;
  /** Run with the id in the delete's transaction, before the row goes. */
  onDelete?: string;
}

class PgRecordStore<View, New extends z.ZodType, Patch extends z.ZodType> implements RecordStore<View, New, Patch> {
  readonly kind: string;
  private readonly select: string;

  constructor(
    protected readonly pool: Pool,
    private readonly spec: TableSpec,
    private readonly schemas: { create: New; patch: Patch },
  ) {
    this.kind = spec.kind;
    this.select = ['id', ...Object.entries(spec.columns).map(([field, column]) => `${column} AS "${field}"`), 'created_at AS "createdAt"'].join(', ');
  }

  async create(input: z.input<New>): Promise<View> {
    const values = this.schemas.create.parse(input) as Record<string, unknown>;
    const fields = Object.keys(this.spec.columns).filter((f) => values[f] !== undefined);
    const { rows } = await this.pool
      .query(
        `INSERT INTO ${this.spec.table} (${fields.map((f) => this.spec.columns[f]).join(', ')})
         VALUES (${fields.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING ${this.select}`,
        fields.map((f) => values[f]),
      )
      .catch((err) => this.refuseDuplicate(err, values.email));
    return rows[0];
  }

  async list(query: z.input<typeof RecordQuery>): Promise<View[]> {
    const q = RecordQuery.parse(query);
    const { rows } = await this.pool.query(
      `SELECT ${this.select} FROM ${this.spec.table}
        WHERE $1::text IS NULL OR lower(email) = lower($1)
        ORDER BY created_at, id LIMIT $2 OFFSET $3`,
      [q.email ?? null, q.limit, q.offset],
    );
    return rows;
  }

  async get(id: string): Promise<View> {
    const { rows } = await this.pool.query(`SELECT ${this.select} FROM ${this.spec.table} WHERE id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError(this.kind, id);
    return rows[0];
  }

  async update(id: string, patch: z.input<Patch>): Promise<View> {
    const values = this.schemas.patch.parse(patch) as Record<string, unknown>;
    const fields = Object.keys(this.spec.columns).filter((f) => values[f] !== undefined);
    if (fields.length === 0) return this.get(id);
    const { rows } = await this.pool
      .query(
        `UPDATE ${this.spec.table} SET ${fields.map((f, i) => `${this.spec.columns[f]} = $${i + 2}`).join(', ')}
          WHERE id = $1 RETURNING ${this.select}`,
        [id, ...fields.map((f) => values[f])],
      )
      .catch((err) => this.refuseDuplicate(err, values.email));
    if (!rows[0]) throw new NotFoundError(this.kind, id);
    return rows[0];
  }

  async delete(id: string): Promise<void> {
    await inTransaction(this.pool, async (db) => {
      if (this.spec.onDelete) await db.query(this.spec.onDelete, [id]);
      const { rowCount } = await db.query(`DELETE FROM ${this.spec.table} WHERE id = $1`, [id]);
      if (!rowCount) throw new NotFoundError(this.kind, id);
      // email_parties has no foreign key (a party may be any of five tables): unlink by hand.
      await db.query(`UPDATE email_parties SET party_type = NULL, party_id = NULL WHERE party_type = $1 AND party_id = $2`, [
        this.spec.partyType,
        id,
      ]);
    });
  }

  private refuseDuplicate(err: unknown, email: unknown): never {
    const e = err as { code?: string; constraint?: string };
    if (this.spec.uniqueEmail && e.code === '23505' && e.constraint === this.spec.uniqueEmail) {
      throw new ConflictError(`A ${this.kind.toLowerCase()} with the email address ${String(email)} exists already`);
    }
    throw err;
  }
}

/**
 * Queues: one queue, one mailbox, and the mailbox carries the queue's address (mail sent from the
 * queue goes out from it), so the address cannot change under a mailbox.
 */
class PgQueueStore extends PgRecordStore<Queue, typeof NewQueue, typeof QueuePatch> {
  constructor(pool: Pool) {
    super(
      pool,
      {
        kind: 'Queue',
        table: 'crm_queues',
        partyType: 'queue',
        columns: { name: 'name', email: 'email', trackingOption: 'tracking_option' },
        uniqueEmail: 'crm_queues_email_key',
        // The mailbox loses its owner as a remap would: a sync in flight stores nothing more for the queue.
        onDelete: `UPDATE mailboxes SET owner_queue_id = NULL, mapping_version = mapping_version + 1, updated_at = now() WHERE owner_queue_id = $1`,
      },
      { create: NewQueue, patch: QueuePatch },
    );
  }

  override async update(id: string, patch: z.input<typeof QueuePatch>): Promise<Queue> {
    const { email } = QueuePatch.parse(patch);
    if (email !== undefined) {
      const { rows } = await this.pool.query(
        `SELECT id, email_address FROM mailboxes WHERE owner_queue_id = $1 AND lower(email_address) <> lower($2)`,
        [id, email],
      );
      if (rows[0]) {
        throw new ConflictError(
          `Queue ${id} sends and receives through mailbox ${rows[0].email_address}, which carries its address: ` +
            `delete that mailbox, change the address, then create a mailbox for ${email} with the queue as its owner`,
          { mailboxId: rows[0].id },
        );
      }
    }
    return super.update(id, patch);
  }
}

const MAILBOX_IDS = `ARRAY(SELECT DISTINCT l.mailbox_id FROM item_links l WHERE l.item_type = 'email' AND l.crm_record_id = a.id)`;

// Parties in the order of the message's headers (they are stored in that order).
const ACTIVITY_SUMMARY = `
  a.id, a.message_id AS "messageId", a.direction, a.subject, a.sent_at AS "sentAt", a.received_at AS "receivedAt",
  a.size_bytes AS "sizeBytes", a.created_at AS "createdAt", a.variant_of AS "variantOf",
  ${MAILBOX_IDS} AS "mailboxIds",
  COALESCE((SELECT json_agg(json_build_object('role', p.role, 'address', p.address, 'displayName', p.display_name,
                                              'partyType', p.party_type, 'partyId', p.party_id)
                            ORDER BY array_position(ARRAY['from', 'to', 'cc', 'bcc'], p.role), p.id)
              FROM email_parties p WHERE p.email_activity_id = a.id), '[]'::json) AS parties`;

const ATTACHMENT = `
  t.position, t.filename, t.content_type AS "contentType", t.size, t.sha256, t.content_id AS "contentId", t.inline, t.stored`;

class PgEmailActivities implements EmailActivities {
  constructor(private readonly pool: Pool) {}

  // Newest first (by when the CRM got them); the cursor is the last activity of the page.
  async list(query: z.input<typeof EmailActivityQuery>): Promise<EmailActivityPage> {
    const q = EmailActivityQuery.parse(query);
    if (q.cursor) {
      const { rowCount } = await this.pool.query(`SELECT 1 FROM email_activities WHERE id = $1`, [q.cursor]);
      if (!rowCount) throw new InvalidRequestError('The cursor names an activity that no longer exists: list again from the first page');
    }
    const { rows } = await this.pool.query(
      `SELECT ${ACTIVITY_SUMMARY}
         FROM email_activities a
        WHERE ($1::uuid IS NULL OR EXISTS (SELECT 1 FROM item_links l WHERE l.item_type = 'email' AND l.crm_record_id = a.id AND l.mailbox_id = $1))
          AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM email_parties p WHERE p.email_activity_id = a.id AND lower(p.address) = lower($2)))
          AND ($3::timestamptz IS NULL OR COALESCE(a.received_at, a.sent_at, a.created_at) >= $3)
          AND ($4::uuid IS NULL OR (a.created_at, a.id) < (SELECT c.created_at, c.id FROM email_activities c WHERE c.id = $4))
        ORDER BY a.created_at DESC, a.id DESC
        LIMIT $5`,
      [q.mailboxId ?? null, q.address ?? null, q.since ?? null, q.cursor ?? null, q.limit + 1],
    );
    const items = rows.slice(0, q.limit);
    return { items, nextCursor: rows.length > q.limit ? items[items.length - 1].id : null };
  }

  async get(id: string): Promise<EmailActivity> {
    const { rows } = await this.pool.query(
      `SELECT ${ACTIVITY_SUMMARY}, a.body_text AS "bodyText", a.body_html AS "bodyHtml", a.in_reply_to AS "inReplyTo", a."references",
              ARRAY(SELECT v.id FROM email_activities v
                     WHERE v.message_id = a.message_id AND v.id <> a.id ORDER BY v.created_at, v.id) AS variants,
              COALESCE((SELECT json_agg(json_build_object('position', t.position, 'filename', t.filename, 'contentType', t.content_type,
                                                          'size', t.size, 'sha256', t.sha256, 'contentId', t.content_id,
                                                          'inline', t.inline, 'stored', t.stored) ORDER BY t.position)
                          FROM email_attachments t WHERE t.email_activity_id = a.id), '[]'::json) AS attachments
         FROM email_activities a WHERE a.id = $1`,
      [id],
    );
    if (!rows[0]) throw new NotFoundError('Email activity', id);
    return rows[0];
  }

  async mailboxIds(id: string): Promise<string[]> {
    const { rows } = await this.pool.query(`SELECT ${MAILBOX_IDS} AS "mailboxIds" FROM email_activities a WHERE a.id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError('Email activity', id);
    return rows[0].mailboxIds;
  }

  async attachments(id: string): Promise<EmailAttachment[]> {
    const { rows } = await this.pool.query(
      `SELECT a.id, ${ATTACHMENT} FROM email_activities a LEFT JOIN email_attachments t ON t.email_activity_id = a.id
        WHERE a.id = $1 ORDER BY t.position`,
      [id],
    );
    if (!rows[0]) throw new NotFoundError('Email activity', id);
    return rows.filter((r) => r.position !== null).map(({ id: _, ...attachment }) => attachment);
  }

  async attachmentContent(id: string, position: number): Promise<{ attachment: EmailAttachment; content: Buffer }> {
    const { rows } = await this.pool.query(
      `SELECT ${ATTACHMENT}, c.content, o.max_attachment_bytes AS "maxBytes"
         FROM email_attachments t LEFT JOIN attachment_contents c ON c.sha256 = t.content_key CROSS JOIN organization_settings o
        WHERE t.email_activity_id = $1 AND t.position = $2`,
      [id, position],
    );
    if (!rows[0]) {
      const { rowCount } = await this.pool.query(`SELECT 1 FROM email_activities WHERE id = $1`, [id]);
      throw new AdminError(
        rowCount ? `Email activity ${id} has no attachment ${position}: list them with GET /emails/${id}/attachments` : `Email activity ${id} does not exist`,
        404,
      );
    }
    const { content, maxBytes, ...attachment } = rows[0];
    if (!attachment.stored) {
      throw new AdminError(
        attachment.sha256 === null
          ? `Attachment ${position} of email activity ${id} was synced before attachment contents were kept: only its name, type and size are known`
          : `Attachment ${position} of email activity ${id} (${attachment.size} bytes) was over the size limit for keeping attachments when it ` +
              `was synced (organization_settings.max_attachment_bytes, now ${maxBytes}): only its name, type and size are kept; open it in the mailbox`,
        404,
      );
    }
    return { attachment, content };
  }
}

export class PgCrmRecords implements CrmRecords {
  readonly contacts: RecordStore<Contact, typeof NewContact, typeof ContactPatch>;
  readonly leads: RecordStore<Lead, typeof NewLead, typeof LeadPatch>;
  readonly accounts: RecordStore<Account, typeof NewAccount, typeof AccountPatch>;
  readonly queues: RecordStore<Queue, typeof NewQueue, typeof QueuePatch>;
  readonly emails: EmailActivities;

  constructor(pool: Pool) {
    this.contacts = new PgRecordStore(
      pool,
      { kind: 'Contact', table: 'contacts', partyType: 'contact', columns: { fullName: 'full_name', email: 'email', accountId: 'account_id' } },
      { create: NewContact, patch: ContactPatch },
    );
    this.leads = new PgRecordStore(
      pool,
      { kind: 'Lead', table: 'leads', partyType: 'lead', columns: { fullName: 'full_name', email: 'email', company: 'company' } },
      { create: NewLead, patch: LeadPatch },
    );
    this.accounts = new PgRecordStore(
      pool,
      { kind: 'Account', table: 'accounts', partyType: 'account', columns: { name: 'name', email: 'email' } },
      { create: NewAccount, patch: AccountPatch },
    );
    this.queues = new PgQueueStore(pool);
    this.emails = new PgEmailActivities(pool);
  }
}
