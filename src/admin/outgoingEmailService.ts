import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { z } from 'zod';
import type { CrmRecords, EmailActivity, QueuedParty, RecordIdentity, RecordKind, RecordRef } from '../crm/crmRecords';
import type { AttachmentInfo } from '../domain/email';
import { addressProblem, parseOutgoingAddress } from '../policy/outgoingAddress';
import { mailboxWorkflowId } from '../temporal/names';
import { outgoingPendingSignal } from '../../workflows';
import { MAX_SEND_ATTACHMENT_TOTAL_BYTES, SendEmailRequest, type SendEmailInput } from './crmSchemas';
import { AdminError, ConflictError, InvalidRequestError } from './errors';

const KIND: Record<RecordKind, string> = { user: 'User', contact: 'Contact', lead: 'Lead', account: 'Account', queue: 'Queue' };
const RECIPIENT_ROLES = ['to', 'cc', 'bcc'] as const;
// The email is queued by then: a Temporal slow to answer must not hold the caller as long as the RPC default (30 s).
const SIGNAL_DEADLINE_MS = 5000;

export interface QueuedEmail {
  email: EmailActivity;
  /** Why the mailbox's workflow could not be told (not running, Temporal away): the email is queued all the same. */
  signalError: string | null;
}

/**
 * The CRM's "send" button: checks an email, queues it (status pending_send) in one transaction and
 * wakes its sender's mailbox workflow. Sending is the workflow's: a row queued here and one the CRM
 * inserts itself go out the same way.
 */
export class OutgoingEmailService {
  constructor(
    private readonly pool: Pool,
    private readonly crm: CrmRecords,
    private readonly temporal: Client,
  ) {}

  /** Every refusal is an AdminError (400, 409, 413) naming the field, before anything is written. */
  async send(input: SendEmailInput): Promise<QueuedEmail> {
    const req = SendEmailRequest.parse(input);
    const owner: RecordRef & { type: 'user' | 'queue' } = 'userId' in req.from ? { type: 'user', id: req.from.userId } : { type: 'queue', id: req.from.queueId };
    const ownerField = owner.type === 'user' ? 'from.userId' : 'from.queueId';

    if (RECIPIENT_ROLES.every((role) => req[role].length === 0)) {
      throw new InvalidRequestError('No recipients: give at least one address or CRM record in to, cc or bcc');
    }
    // Each recipient by address now; the record references once they are looked up.
    const recipients = RECIPIENT_ROLES.flatMap((role) =>
      req[role].map((entry, i) => {
        const field = `${role}[${i}]`;
        if (typeof entry !== 'string') return { role, field, ref: entry };
        const parsed = parseOutgoingAddress(entry);
        if ('error' in parsed) {
          throw new InvalidRequestError(
            `${field}: "${entry}" is not an email address to send to (${parsed.error}); give one address, such as ann@example.com or "Ann <ann@example.com>"`,
          );
        }
        return { role, field, party: { role, address: parsed.address, displayName: parsed.name, record: null } satisfies QueuedParty };
      }),
    );

    const attachments = await this.attachments(req.attachments);

    const refs = [owner, ...recipients.flatMap((r) => (r.ref ? [r.ref] : [])), ...(req.regarding ? [req.regarding] : [])];
    const found = new Map((await this.crm.findRecords(refs)).map((r) => [`${r.type}:${r.id}`, r]));
    const record = (field: string, ref: RecordRef): RecordIdentity => {
      const r = found.get(`${ref.type}:${ref.id}`);
      if (!r) throw new InvalidRequestError(`${field}: ${KIND[ref.type]} ${ref.id} does not exist`);
      return r;
    };
    const sender = record(ownerField, owner);
    const parties = recipients.map(({ role, field, ref, party }): QueuedParty => {
      if (party) return party;
      const r = record(field, ref!);
      if (!r.email) {
        throw new InvalidRequestError(`${field}: ${KIND[r.type]} ${r.id} (${r.name}) has no email address: set one on the record, or give an address instead`);
      }
      // The CRM may have written the record without the API's checks.
      const problem = addressProblem(r.email);
      if (problem) throw new InvalidRequestError(`${field}: ${KIND[r.type]} ${r.id} (${r.name}) has the email address "${r.email}", which cannot be sent to (${problem}): correct it on the record`);
      return { role, address: r.email.toLowerCase(), displayName: r.name, record: { type: r.type, id: r.id } };
    });
    if (req.regarding) record('regarding', req.regarding);

    const mailbox = await this.senderMailbox(owner, sender);
    const email = await this.crm.emails.queue({
      owner,
      parties: [{ role: 'from', address: mailbox.address.toLowerCase(), displayName: sender.name, record: owner }, ...parties],
      subject: req.subject,
      bodyText: req.text ?? null,
      bodyHtml: req.html ?? null,
      regarding: req.regarding ?? null,
      attachments: attachments.map((a) => a.info),
      attachmentContent: attachments.map((a) => a.content),
    });
    return { email, signalError: await this.wake(mailbox.id) };
  }

  /** Decoded and described; each within the organisation's attachment limit, all within the request's. */
  private async attachments(requested: z.infer<typeof SendEmailRequest>['attachments']): Promise<{ info: AttachmentInfo; content: Buffer }[]> {
    if (requested.length === 0) return [];
    const { rows } = await this.pool.query(`SELECT max_attachment_bytes FROM organization_settings`);
    const maxBytes: number = rows[0].max_attachment_bytes;
    let total = 0;
    return requested.map((a, i) => {
      const content = Buffer.from(a.contentBase64, 'base64');
      if (content.length > maxBytes) {
        throw new AdminError(
          `attachments[${i}] (${a.filename}) is ${content.length} bytes, over the limit of ${maxBytes} bytes per attachment ` +
            '(organization_settings.max_attachment_bytes): send a smaller file, or raise the limit (PATCH /organization maxAttachmentBytes)',
          413,
        );
      }
      total += content.length;
      if (total > MAX_SEND_ATTACHMENT_TOTAL_BYTES) {
        throw new AdminError(
          `attachments: together over ${MAX_SEND_ATTACHMENT_TOTAL_BYTES} bytes, the most one email may carry (from attachments[${i}], ${a.filename}): send them in several emails`,
          413,
        );
      }
      const info: AttachmentInfo = {
        filename: a.filename,
        contentType: a.contentType.toLowerCase(),
        size: content.length,
        sha256: createHash('sha256').update(content).digest('hex'),
        contentId: a.contentId ?? null,
        inline: a.inline,
      };
      return { info, content };
    });
  }

  /** The mailbox the owner sends through; 409 when there is none or it may not send. */
  private async senderMailbox(owner: RecordRef, sender: RecordIdentity): Promise<{ id: string; address: string }> {
    const { rows } = await this.pool.query(
      `SELECT id, email_address, outgoing_enabled FROM mailboxes WHERE ${owner.type === 'user' ? 'owner_user_id' : 'owner_queue_id'} = $1`,
      [owner.id],
    );
    const who = `${KIND[owner.type]} ${sender.name} (${owner.id})`;
    if (!rows[0]) {
      throw new ConflictError(`${who} has no mailbox to send from: create one for them (POST /mailboxes) and run Test & Enable on it`);
    }
    const { id, email_address: address, outgoing_enabled: enabled } = rows[0];
    if (!enabled) {
      throw new ConflictError(
        `The mailbox ${address} of ${who} may not send: its outgoing direction is disabled. Run Test & Enable on it ` +
          `(POST /mailboxes/${id}/test-and-enable, or \`mailbox test-and-enable ${id}\`) to test SMTP and enable it`,
        { mailboxId: id },
      );
    }
    return { id, address };
  }

  /**
   * Tells the mailbox's workflow an email waits, so it goes out in seconds. A workflow that is not
   * running (or a Temporal that does not answer) is no failure: the row is queued, and the
   * database's notification and the engine's sweep pick it up.
   */
  private async wake(mailboxId: string): Promise<string | null> {
    try {
      const handle = this.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId));
      await this.temporal.connection.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () => handle.signal(outgoingPendingSignal));
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  }
}
