import { randomUUID } from 'node:crypto';
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
import type { AttachmentInfo, PartyRole } from '../domain/email';
import { insertAttachments, resolveAddresses } from '../store/emailContent';
import { inTransaction } from '../store/pgSyncStore';
import { CONTACT_FIELDS } from './itemFields';

/**
 * The CRM side the sync resolves addresses against and writes email activities to, for
 * administrators: contacts, leads, accounts and queues (create, list, read, edit, delete) and the email
 * activities with their parties (list, read; queue one to be sent). An interface, so that a CRM with another schema
 * can plug in; PgCrmRecords is the implementation for this product's own tables.
 */
export interface CrmRecords {
  contacts: RecordStore<Contact, typeof NewContact, typeof ContactPatch>;
  leads: RecordStore<Lead, typeof NewLead, typeof LeadPatch>;
  accounts: RecordStore<Account, typeof NewAccount, typeof AccountPatch>;
  queues: RecordStore<Queue, typeof NewQueue, typeof QueuePatch>;
  emails: EmailActivities;
  /** Those of `refs` that exist, with their name and email address (a CRM user, contact, lead, account or queue). */
  findRecords(refs: RecordRef[]): Promise<RecordIdentity[]>;
}

/** A CRM record an email may name: the four kinds parties resolve to, and queues (which send and receive). */
export type RecordKind = 'user' | 'contact' | 'lead' | 'account' | 'queue';

export interface RecordRef {
  type: RecordKind;
  id: string;
}

export interface RecordIdentity extends RecordRef {
  /** Its full name (users, contacts, leads) or name (accounts, queues). */
  name: string;
  email: string | null;
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

/** A contact, with Dynamics' contact fields (src/crm/itemFields.ts): those not named here are text or null. */
export interface Contact {
  id: string;
  fullName: string;
  email: string | null;
  accountId: string | null;
  ownerUserId: string | null;
  state: 'active' | 'inactive';
  createdAt: Date;
  modifiedAt: Date;
  [field: string]: unknown;
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
  /** Null for an outgoing email not sent yet: fixed before its first attempt. */
  messageId: string | null;
  direction: string;
  /** received (synced), or an outgoing email's life: draft, pending_send, sending, sent, failed. */
  status: string;
  /** Who sends it (outgoing): a user or a queue, through that owner's mailbox. */
  ownerUserId: string | null;
  ownerQueueId: string | null;
  regarding: { type: string; id: string } | null;
  /** The first activity of its conversation (itself for a conversation's first email). */
  conversationId: string | null;
  correlationMethod: string | null;
  trackingToken: string | null;
  queuedAt: Date | null;
  sendAttempts: number;
  sendError: string | null;
  smtpAcceptedAt: Date | null;
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
  /** A synced one sanitised for display (nothing in it runs or loads from elsewhere); an outgoing one as the CRM wrote it. */
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

/** A party of an outgoing email; one without `record` is resolved by its address when queued. */
export interface QueuedParty {
  role: PartyRole;
  address: string;
  displayName: string | null;
  record: RecordRef | null;
}

/** An email the CRM sends, as queued: checked already (see OutgoingEmailService). */
export interface EmailToQueue {
  owner: { type: 'user' | 'queue'; id: string };
  /** Its from party first (the owner's mailbox), then to, cc and bcc. */
  parties: QueuedParty[];
  subject: string;
  bodyText: string | null;
  bodyHtml: string | null;
  regarding: { type: 'account' | 'contact' | 'lead'; id: string } | null;
  attachments: AttachmentInfo[];
  /** Decoded content of `attachments[i]`. */
  attachmentContent: Buffer[];
}

export interface EmailActivities {
  /**
   * Writes an outgoing email, its parties and attachments in one transaction, status pending_send:
   * the send engine picks it up (the database notifies it; the caller signals the mailbox's workflow too).
   */
  queue(email: EmailToQueue): Promise<EmailActivity>;
  list(query: z.input<typeof EmailActivityQuery>): Promise<EmailActivityPage>;
  get(id: string): Promise<EmailActivity>;
  /** Who may see the activity besides admins: the owners of the mailboxes it was synced from, and its sender. */
  access(id: string): Promise<{ mailboxIds: string[]; ownerUserId: string | null }>;
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
      // Parties, attendees, organizers and regarding records have no foreign key (each may be one of
      // several tables): unlink by hand. Appointments and tasks changed so are logged for sync.
      const unlink = [
        `UPDATE email_parties SET party_type = NULL, party_id = NULL WHERE party_type = $1 AND party_id = $2`,
        `UPDATE appointment_attendees SET party_type = NULL, party_id = NULL WHERE party_type = $1 AND party_id = $2`,
        `UPDATE appointments SET organizer_type = NULL, organizer_id = NULL WHERE organizer_type = $1 AND organizer_id = $2`,
        `UPDATE appointments SET regarding_type = NULL, regarding_id = NULL WHERE regarding_type = $1 AND regarding_id = $2`,
        `UPDATE crm_tasks SET regarding_type = NULL, regarding_id = NULL WHERE regarding_type = $1 AND regarding_id = $2`,
      ];
      for (const sql of unlink) await db.query(sql, [this.spec.partyType, id]);
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
  a.id, a.message_id AS "messageId", a.direction, a.status, a.owner_user_id AS "ownerUserId", a.owner_queue_id AS "ownerQueueId",
  CASE WHEN a.regarding_type IS NULL THEN NULL ELSE json_build_object('type', a.regarding_type, 'id', a.regarding_id) END AS regarding,
  a.conversation_id AS "conversationId", a.correlation_method AS "correlationMethod", a.tracking_token AS "trackingToken",
  a.queued_at AS "queuedAt", a.send_attempts AS "sendAttempts", a.send_error AS "sendError", a.smtp_accepted_at AS "smtpAcceptedAt",
  a.subject, a.sent_at AS "sentAt", a.received_at AS "receivedAt",
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

  async queue(email: EmailToQueue): Promise<EmailActivity> {
    const id = randomUUID();
    await inTransaction(this.pool, async (db) => {
      await db.query(
        `INSERT INTO email_activities (id, direction, status, owner_user_id, owner_queue_id, subject, body_text, body_html,
                                       regarding_type, regarding_id, conversation_id, queued_at)
         VALUES ($1, 'outgoing', 'pending_send', $2, $3, $4, $5, $6, $7, $8, $1, now())`,
        [
          id,
          email.owner.type === 'user' ? email.owner.id : null,
          email.owner.type === 'queue' ? email.owner.id : null,
          email.subject,
          email.bodyText,
          email.bodyHtml,
          email.regarding?.type ?? null,
          email.regarding?.id ?? null,
        ],
      );
      const resolved = await resolveAddresses(db, email.parties.filter((p) => !p.record).map((p) => p.address));
      const parties = email.parties.map((p) => {
        const record = p.record ?? resolved.get(p.address.toLowerCase()) ?? null;
        return { role: p.role, address: p.address, display_name: p.displayName, party_type: record?.type ?? null, party_id: record?.id ?? null };
      });
      // One party per role and address, the first named (the table's key).
      await db.query(
        `INSERT INTO email_parties (email_activity_id, role, address, display_name, party_type, party_id)
         SELECT $1, r.role, r.address, r.display_name, r.party_type, r.party_id
           FROM jsonb_to_recordset($2::jsonb) AS r(role text, address text, display_name text, party_type text, party_id uuid)
         ON CONFLICT DO NOTHING`,
        [id, JSON.stringify(parties)],
      );
      const { rows } = await db.query(`SELECT max_attachment_bytes FROM organization_settings`);
      await insertAttachments(db, [{ emailActivityId: id, attachments: email.attachments, content: email.attachmentContent }], rows[0].max_attachment_bytes);
    });
    return this.get(id);
  }

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
        WHERE ($1::uuid IS NULL
               OR EXISTS (SELECT 1 FROM item_links l WHERE l.item_type = 'email' AND l.crm_record_id = a.id AND l.mailbox_id = $1)
               OR EXISTS (SELECT 1 FROM mailboxes m WHERE m.id = $1 AND (m.owner_user_id = a.owner_user_id OR m.owner_queue_id = a.owner_queue_id)))
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

  async access(id: string): Promise<{ mailboxIds: string[]; ownerUserId: string | null }> {
    const { rows } = await this.pool.query(
      `SELECT ${MAILBOX_IDS} AS "mailboxIds", a.owner_user_id AS "ownerUserId" FROM email_activities a WHERE a.id = $1`,
      [id],
    );
    if (!rows[0]) throw new NotFoundError('Email activity', id);
    return rows[0];
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

// Every contact field but created_at, which every record type's select has.
const CONTACT_COLUMNS = Object.fromEntries(
  Object.entries(CONTACT_FIELDS)
    .filter(([field]) => field !== 'createdAt')
    .map(([field, spec]) => [field, spec.column]),
);

const RECORD_IDENTITY = `
  SELECT 'user' AS type, id, full_name AS name, email FROM crm_users WHERE id = ANY($1)
  UNION ALL SELECT 'contact', id, full_name, email FROM contacts WHERE id = ANY($2)
  UNION ALL SELECT 'lead', id, full_name, email FROM leads WHERE id = ANY($3)
  UNION ALL SELECT 'account', id, name, email FROM accounts WHERE id = ANY($4)
  UNION ALL SELECT 'queue', id, name, email FROM crm_queues WHERE id = ANY($5)`;

export class PgCrmRecords implements CrmRecords {
  readonly contacts: RecordStore<Contact, typeof NewContact, typeof ContactPatch>;
  readonly leads: RecordStore<Lead, typeof NewLead, typeof LeadPatch>;
  readonly accounts: RecordStore<Account, typeof NewAccount, typeof AccountPatch>;
  readonly queues: RecordStore<Queue, typeof NewQueue, typeof QueuePatch>;
  readonly emails: EmailActivities;

  constructor(private readonly pool: Pool) {
    this.contacts = new PgRecordStore(
      pool,
      { kind: 'Contact', table: 'contacts', partyType: 'contact', columns: CONTACT_COLUMNS },
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

  async findRecords(refs: RecordRef[]): Promise<RecordIdentity[]> {
    if (refs.length === 0) return [];
    const ids = (type: RecordKind) => [...new Set(refs.filter((r) => r.type === type).map((r) => r.id))];
    const { rows } = await this.pool.query(RECORD_IDENTITY, [ids('user'), ids('contact'), ids('lead'), ids('account'), ids('queue')]);
    return rows;
  }
}
