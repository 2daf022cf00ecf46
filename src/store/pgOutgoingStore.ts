import type { Pool, PoolClient } from 'pg';
import { formatTrackingToken, normaliseSubject, withTrackingToken } from '../policy/trackingToken';
import type { SecretBox } from '../secrets/secretBox';
import type { OutgoingContext, OutgoingEmail, OutgoingParty, OutgoingStore } from './outgoingStore';
import { WriteCoalescer } from './writeCoalescer';
import { disableDirection, ENDPOINT_COLUMNS, inTransaction, MAILBOX_WITH_OWNER, mailboxEndpoints, resolveAlerts } from './pgSyncStore';

// The emails of a mailbox are those of its owner, a user or a queue.
const OWNED_BY_MAILBOX = `(e.owner_user_id = m.owner_user_id OR e.owner_queue_id = m.owner_queue_id)`;

// At most this many acceptances share one statement.
const ACCEPTED_PER_WRITE = 200;

interface Acceptance {
  emailId: string;
  note: string | null;
  sent: boolean;
}

export class PgOutgoingStore implements OutgoingStore {
  // Every sending run of the process records its acceptances through this: under load they share commits.
  private readonly acceptances: WriteCoalescer<Acceptance>;

  constructor(
    private readonly pool: Pool,
    private readonly secrets: SecretBox,
  ) {
    this.acceptances = new WriteCoalescer((items) => this.writeAcceptances(items), ACCEPTED_PER_WRITE);
  }

  async loadOutgoingContext(mailboxId: string): Promise<OutgoingContext | null> {
    const { rows } = await this.pool.query(
      `SELECT m.id, m.owner_user_id, coalesce(u.full_name, q.name) AS sender_name, m.outgoing_enabled, m.sent_folder,
              m.profile_id, p.max_concurrent_connections, p.save_sent_copy, o.max_send_attempts, ${ENDPOINT_COLUMNS}
         FROM ${MAILBOX_WITH_OWNER}
        WHERE m.id = $1`,
      [mailboxId],
    );
    const r = rows[0];
    if (!r) return null;
    const { incoming, outgoing, graph } = mailboxEndpoints(r, this.secrets);
    return {
      mailboxId: r.id,
      emailAddress: r.email_address,
      senderName: r.sender_name,
      ownerUserId: r.owner_user_id,
      profileId: r.profile_id,
      serverType: r.server_type,
      maxConcurrentConnections: r.max_concurrent_connections,
      outgoingEnabled: r.outgoing_enabled,
      smtp: outgoing,
      graph,
      // Only an IMAP mailbox has folders to keep a copy in.
      sentCopies: r.save_sent_copy && r.server_type === 'imap' ? { endpoint: incoming, folder: r.sent_folder } : null,
      maxSendAttempts: r.max_send_attempts,
    };
  }

  async takeDueEmails(mailboxId: string, limit: number, excluding: string[]): Promise<OutgoingEmail[]> {
    return inTransaction(this.pool, async (db) => {
      const { rows: due } = await db.query<{ id: string; subject: string | null; fresh: boolean; interrupted: boolean; accepted: boolean }>({
        name: 'take-due-emails',
        text: `SELECT e.id, e.subject, e.message_id IS NULL AS fresh, e.status = 'sending' AS interrupted, e.smtp_accepted_at IS NOT NULL AS accepted
           FROM email_activities e JOIN mailboxes m ON ${OWNED_BY_MAILBOX}
          WHERE m.id = $1 AND e.status IN ('pending_send', 'sending')
            AND (e.status = 'sending' OR e.next_attempt_at IS NULL OR e.next_attempt_at <= now())
            AND e.id <> ALL($3::uuid[])
          ORDER BY coalesce(e.queued_at, e.created_at), e.id
          LIMIT $2
            FOR UPDATE OF e SKIP LOCKED`,
        values: [mailboxId, limit, excluding],
      });
      if (due.length === 0) return [];
      const fixed = await fixSubjects(db, mailboxId, due.filter((r) => r.fresh));
      // One new version of each row: it is marked, given its Message-ID and, the first time, its subject.
      const { rows } = await db.query({
        name: 'mark-emails-sending',
        text: `UPDATE email_activities e
            SET status = 'sending', direction = 'outgoing',
                message_id = coalesce(e.message_id, format('<%s@%s>', replace(gen_random_uuid()::text, '-', ''), m.domain)),
                sent_at = coalesce(e.sent_at, now()),
                subject = CASE WHEN f.id IS NULL THEN e.subject ELSE f.subject END,
                tracking_token = CASE WHEN f.id IS NULL THEN e.tracking_token ELSE f.token END,
                normalised_subject = CASE WHEN f.id IS NULL THEN e.normalised_subject ELSE f.normalised END
           FROM (SELECT coalesce(nullif(split_part(email_address, '@', 2), ''), 'localhost') AS domain FROM mailboxes WHERE id = $1) m,
                unnest($2::uuid[]) AS d(id)
                LEFT JOIN unnest($3::uuid[], $4::text[], $5::text[], $6::text[]) AS f(id, subject, token, normalised) ON f.id = d.id
          WHERE e.id = d.id
        RETURNING e.id, e.message_id, e.sent_at, e.send_attempts, e.server_draft_id, e.subject,
                  e.body_text, e.body_html, e.in_reply_to, e."references"`,
        values: [mailboxId, due.map((r) => r.id), fixed.map((f) => f.id), fixed.map((f) => f.subject), fixed.map((f) => f.token), fixed.map((f) => f.normalised)],
      });
      // In the order they were taken, which the database's timestamps (finer than a Date's) decided.
      const taken = new Map(due.map((r, i) => [r.id, { ...r, position: i }]));
      rows.sort((a, b) => taken.get(a.id)!.position - taken.get(b.id)!.position);
      const ids = rows.map((r) => r.id);
      const { rows: parties } = await db.query({
        name: 'outgoing-email-parties',
        text: `SELECT email_activity_id AS id, role, address, display_name FROM email_parties
          WHERE email_activity_id = ANY($1) AND role IN ('to', 'cc', 'bcc') AND address IS NOT NULL ORDER BY id`,
        values: [ids],
      });
      const { rows: attachments } = await db.query({
        name: 'outgoing-email-attachments',
        text: `SELECT a.email_activity_id AS id, a.filename, a.content_type, a.content_id, a.inline, c.content
           FROM email_attachments a JOIN attachment_contents c ON c.sha256 = a.content_key
          WHERE a.email_activity_id = ANY($1) ORDER BY a.email_activity_id, a.position`,
        values: [ids],
      });
      const partiesOf = (id: string, role: string): OutgoingParty[] =>
        parties.filter((p) => p.id === id && p.role === role).map((p) => ({ address: p.address, name: p.display_name }));
      return rows.map(
        (r): OutgoingEmail => ({
          id: r.id,
          messageId: r.message_id,
          date: r.sent_at,
          interrupted: taken.get(r.id)!.interrupted,
          accepted: taken.get(r.id)!.accepted,
          sendAttempts: r.send_attempts,
          draftId: r.server_draft_id,
          to: partiesOf(r.id, 'to'),
          cc: partiesOf(r.id, 'cc'),
          bcc: partiesOf(r.id, 'bcc'),
          subject: r.subject,
          bodyText: r.body_text,
          bodyHtml: r.body_html,
          inReplyTo: r.in_reply_to,
          references: r.references,
          attachments: attachments
            .filter((a) => a.id === r.id)
            .map((a) => ({ filename: a.filename, contentType: a.content_type, contentId: a.content_id, inline: a.inline, content: a.content })),
        }),
      );
    });
  }

  async recordDraft(emailId: string, draft: { draftId: string; messageId: string }): Promise<void> {
    await this.pool.query(`UPDATE email_activities SET server_draft_id = $2, message_id = $3 WHERE id = $1`, [emailId, draft.draftId, draft.messageId]);
  }

  recordAccepted(emailId: string, outcome: { note: string | null; sent: boolean }): Promise<void> {
    return this.acceptances.submit({ emailId, ...outcome });
  }

  private async writeAcceptances(items: Acceptance[]): Promise<void> {
    await this.pool.query({
      name: 'record-emails-accepted',
      text: `UPDATE email_activities e SET smtp_accepted_at = now(), send_attempts = e.send_attempts + 1, send_error = a.note,
              status = CASE WHEN a.sent THEN 'sent' ELSE e.status END
         FROM unnest($1::uuid[], $2::text[], $3::boolean[]) AS a(id, note, sent)
        WHERE e.id = a.id`,
      values: [items.map((a) => a.emailId), items.map((a) => a.note), items.map((a) => a.sent)],
    });
  }

  async recordSent(emailIds: string[], copySaved: boolean): Promise<void> {
    if (emailIds.length === 0) return;
    await this.pool.query({
      name: 'record-emails-sent',
      text: `UPDATE email_activities
          SET status = 'sent', smtp_accepted_at = coalesce(smtp_accepted_at, now()),
              sent_copy_saved_at = CASE WHEN $2 THEN now() END,
              send_error = CASE WHEN $2 THEN send_error
                                ELSE concat_ws('; ', send_error, 'Delivered, but the server refused its copy for the Sent folder') END
        WHERE id = ANY($1) AND status = 'sending'`,
      values: [emailIds, copySaved],
    });
  }

  async recordDeferred(emailId: string, reason: string, nextAttemptAt: Date): Promise<void> {
    await this.pool.query(
      `UPDATE email_activities SET status = 'pending_send', send_attempts = send_attempts + 1, send_error = $2, next_attempt_at = $3
        WHERE id = $1`,
      [emailId, reason, nextAttemptAt],
    );
  }

  async recordFailed(mailboxId: string, emailId: string, reason: string): Promise<void> {
    await inTransaction(this.pool, async (db) => {
      const { rows } = await db.query(
        `UPDATE email_activities SET status = 'failed', send_attempts = send_attempts + 1, send_error = $2, next_attempt_at = NULL
          WHERE id = $1 RETURNING subject, owner_user_id`,
        [emailId, reason],
      );
      const ownerUserId: string | null = rows[0]?.owner_user_id ?? null;
      // One alert per failed email, for its sender (the admins for a queue's); never deduplicated.
      await db.query(
        `INSERT INTO alerts (level, scope, audiences, mailbox_id, user_id, message)
         VALUES ('error', 'email_item', $3, $1, $2, $4)`,
        [
          mailboxId,
          ownerUserId,
          ownerUserId ? ['mailbox_owner'] : ['admins'],
          `The email "${rows[0]?.subject ?? '(no subject)'}" was not sent: ${reason}`,
        ],
      );
    });
  }

  async releaseUnsent(emailIds: string[], nextAttemptAt: Date | null): Promise<void> {
    if (emailIds.length === 0) return;
    await this.pool.query(
      `UPDATE email_activities SET status = 'pending_send', next_attempt_at = $2
        WHERE id = ANY($1) AND status = 'sending' AND smtp_accepted_at IS NULL`,
      [emailIds, nextAttemptAt],
    );
  }

  async disableOutgoing(mailboxId: string, reason: string): Promise<void> {
    await disableDirection(
      this.pool,
      mailboxId,
      { name: 'outgoing', conditionKey: 'outgoing_failure' },
      reason,
      (address) => `Sending from ${address} is disabled: ${reason}. Its emails wait; fix the credentials, then run Test & Enable.`,
    );
  }

  async recordOutgoingUnreachable(mailboxId: string, reason: string): Promise<void> {
    await this.pool.query(
      `UPDATE mailboxes SET outgoing_status = 'failure', outgoing_tested_at = now(), outgoing_test_message = $2 WHERE id = $1`,
      [mailboxId, `${reason}; the emails wait and sending is retried`],
    );
  }

  async recordOutgoingSuccess(mailboxId: string): Promise<void> {
    await inTransaction(this.pool, async (db) => {
      await db.query(
        `UPDATE mailboxes SET outgoing_status = 'success', outgoing_tested_at = now(), outgoing_test_message = 'Sending works: the server accepted an email'
          WHERE id = $1`,
        [mailboxId],
      );
      await resolveAlerts(db, { mailboxId, conditionKey: 'outgoing_failure' });
    });
  }

  async nextDeferredAt(mailboxId: string): Promise<Date | null> {
    const { rows } = await this.pool.query(
      `SELECT min(coalesce(e.next_attempt_at, now())) AS next
         FROM email_activities e JOIN mailboxes m ON ${OWNED_BY_MAILBOX}
        WHERE m.id = $1 AND e.status = 'pending_send'`,
      [mailboxId],
    );
    return rows[0].next;
  }
}

/**
 * An email taken for the first time gets its subject for good: the tracking token of its owner's
 * next counters (the organisation's prefix, or the mailbox's own, unless either turns tokens off),
 * and the normalised subject smart matching compares. `emails` are in sending order; returns
 * what to store for each.
 */
async function fixSubjects(
  db: PoolClient,
  mailboxId: string,
  emails: { id: string; subject: string | null }[],
): Promise<{ id: string; subject: string | null; token: string | null; normalised: string | null }[]> {
  if (emails.length === 0) return [];
  const { rows } = await db.query(
    `SELECT o.tracking_token_enabled AND m.tracking_token_mode <> 'off' AS tokens,
            CASE WHEN m.tracking_token_mode = 'custom' THEN m.tracking_token_prefix ELSE o.tracking_token_prefix END AS prefix,
            o.tracking_token_prefix AS organization_prefix, o.tracking_token_base_number AS base_number,
            o.tracking_token_user_digits AS user_digits, o.tracking_token_counter_digits AS counter_digits,
            m.owner_user_id, m.owner_queue_id
       FROM mailboxes m CROSS JOIN organization_settings o WHERE m.id = $1`,
    [mailboxId],
  );
  const s = rows[0];
  const prefixes = [s.organization_prefix, s.prefix];
  const tokens: (string | null)[] = emails.map(() => null);
  const owner = s.owner_user_id ? { table: 'crm_users', id: s.owner_user_id } : s.owner_queue_id ? { table: 'crm_queues', id: s.owner_queue_id } : null;
  if (s.tokens && owner) {
    const wrap = 10 ** s.counter_digits;
    // The owner's counters for these emails, taken in one statement so two senders never share one.
    const { rows: counted } = await db.query(
      `UPDATE ${owner.table} SET tracking_counter = (tracking_counter + $2) % $3 WHERE id = $1 RETURNING tracking_number, tracking_counter`,
      [owner.id, emails.length, wrap],
    );
    const { tracking_number: ownerNumber, tracking_counter: last } = counted[0];
    const settings = { prefix: s.prefix, baseNumber: Number(s.base_number), userDigits: s.user_digits, counterDigits: s.counter_digits };
    emails.forEach((_, i) => {
      tokens[i] = formatTrackingToken(settings, ownerNumber, (((last - emails.length + 1 + i) % wrap) + wrap) % wrap);
    });
  }
  return emails.map((e, i) => {
    const token = tokens[i];
    const subject = token ? withTrackingToken(e.subject, token) : e.subject;
    return { id: e.id, subject, token, normalised: normaliseSubject(subject, prefixes) };
  });
}
