import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import type { CrmRecordRef } from '../domain/email';
import { correlate, countsAsReply, SMART_MATCHING_WINDOW_MS, type CorrelationCandidate, type CorrelationMethod } from '../policy/correlation';
import { shouldTrack } from '../policy/tracking';
import type { IncomingBatchCommit, IncomingEmail } from './syncStore';

// Seed of the advisory-lock keys taken per address while creating contacts for unknown senders
// (beside the Message-ID locks' seed 9).
const UNKNOWN_SENDER_LOCK_SEED = 10;

// The most recent emails of a subject smart matching weighs (Dynamics' HashMaxCount): a common
// subject ("Invoice") must not pull in months of mail.
const SMART_MATCHING_MAX_CANDIDATES = 20;

/** What a tracked email's activity row says about its tracking and conversation. */
export interface ActivityTracking {
  /** The id its activity takes if it is new (a copy of a stored message keeps the stored one's). */
  id: string;
  conversationId: string;
  correlationMethod: CorrelationMethod | null;
  correlatedActivityId: string | null;
  regarding: CrmRecordRef | null;
  trackingToken: string | null;
  normalisedSubject: string | null;
}

export interface TrackedEmail extends IncomingEmail {
  activity: ActivityTracking;
}

/**
 * The commit's tracking step, in its transaction: the emails the mailbox's option takes, each
 * correlated with what the CRM holds (one query for the whole batch: by Message-ID, by token and, with
 * smart matching on, by subject) or with an earlier email of the same batch, in the batch's order.
 * Senders the owner wants contacts for get them.
 */
export async function trackEmails(db: PoolClient, commit: IncomingBatchCommit): Promise<TrackedEmail[]> {
  const settings = commit.tracking;
  const stored = await findCandidates(db, commit);
  const tracked: TrackedEmail[] = [];
  const inBatch: CorrelationCandidate[] = [];
  const heldMessageIds = new Set(stored.flatMap((c) => (c.messageId ? [c.messageId] : [])));
  for (const email of commit.emails) {
    const facts = email.tracking.correlation;
    const correlation = correlate(facts, [...stored, ...inBatch], settings);
    if (!shouldTrack(settings.option, { senderRecordType: email.tracking.senderRecordType, repliesToCrmEmail: countsAsReply(correlation) })) continue;
    const id = randomUUID();
    const activity: ActivityTracking = {
      id,
      conversationId: correlation?.conversationId ?? id,
      correlationMethod: correlation?.method ?? null,
      correlatedActivityId: correlation?.activityId ?? null,
      regarding: correlation?.regarding ?? null,
      trackingToken: facts.tokens[0] ?? null,
      normalisedSubject: facts.normalisedSubject,
    };
    tracked.push({ ...email, activity });
    // A copy of a stored message is that one, found by the query already.
    if (!heldMessageIds.has(facts.messageId)) {
      inBatch.push({
        activityId: id,
        conversationId: activity.conversationId,
        regarding: activity.regarding,
        messageId: facts.messageId,
        trackingToken: activity.trackingToken,
        normalisedSubject: activity.normalisedSubject,
        participants: facts.participants,
        at: facts.at,
      });
    }
  }
  await createUnknownSenderContacts(db, tracked);
  return tracked;
}

async function findCandidates(db: PoolClient, commit: IncomingBatchCommit): Promise<CorrelationCandidate[]> {
  const facts = commit.emails.map((e) => e.tracking.correlation);
  const messageIds = [...new Set(facts.flatMap((f) => [...(f.inReplyTo ? [f.inReplyTo] : []), ...f.references]))];
  const tokens = [...new Set(facts.flatMap((f) => f.tokens))];
  const subjects = commit.tracking.smartMatching ? [...new Set(facts.flatMap((f) => (f.normalisedSubject ? [f.normalisedSubject] : [])))] : [];
  if (messageIds.length + tokens.length + subjects.length === 0) return [];
  const since = new Date(Math.min(...facts.map((f) => f.at.getTime())) - SMART_MATCHING_WINDOW_MS);
  const { rows } = await db.query(
    `WITH found AS (
       SELECT id FROM email_activities WHERE message_id = ANY($1)
       UNION SELECT id FROM email_activities WHERE tracking_token = ANY($2)
       UNION SELECT recent.id FROM unnest($3::text[]) AS wanted(key),
         LATERAL (SELECT id FROM email_activities WHERE normalised_subject = wanted.key AND coalesce(sent_at, created_at) >= $4
                   ORDER BY coalesce(sent_at, created_at) DESC LIMIT ${SMART_MATCHING_MAX_CANDIDATES}) AS recent
     )
     SELECT a.id, coalesce(a.conversation_id, a.id) AS conversation_id, a.regarding_type, a.regarding_id, a.message_id,
            a.tracking_token, a.normalised_subject, coalesce(a.sent_at, a.created_at) AS at,
            ARRAY(SELECT DISTINCT lower(p.address) FROM email_parties p WHERE p.email_activity_id = a.id AND p.address IS NOT NULL) AS participants
       FROM found JOIN email_activities a USING (id)`,
    [messageIds, tokens, subjects, since],
  );
  return rows.map((r) => ({
    activityId: r.id,
    conversationId: r.conversation_id,
    regarding: r.regarding_type ? { type: r.regarding_type, id: r.regarding_id } : null,
    messageId: r.message_id,
    trackingToken: r.tracking_token,
    normalisedSubject: r.normalised_subject,
    participants: r.participants,
    at: r.at,
  }));
}

/**
 * A contact for each unknown sender of a tracked email (one per address, however many emails it
 * sent), and the emails' parties with that address resolved to it. Serialised per address, so two
 * mailboxes storing mail from one stranger at once make one contact.
 */
async function createUnknownSenderContacts(db: PoolClient, tracked: TrackedEmail[]): Promise<void> {
  const wanted = new Map<string, string | null>();
  for (const { tracking } of tracked) {
    const sender = tracking.unknownSender;
    if (sender && !wanted.has(sender.address.toLowerCase())) wanted.set(sender.address.toLowerCase(), sender.name);
  }
  if (wanted.size === 0) return;
  const addresses = [...wanted.keys()].sort();
  await db.query(`SELECT pg_advisory_xact_lock(hashtextextended(a, ${UNKNOWN_SENDER_LOCK_SEED})) FROM unnest($1::text[]) a ORDER BY a`, [addresses]);
  const { rows: existing } = await db.query(`SELECT DISTINCT ON (lower(email)) id, lower(email) AS address FROM contacts WHERE lower(email) = ANY($1) ORDER BY lower(email), created_at`, [addresses]);
  const contacts = new Map<string, string>(existing.map((r) => [r.address, r.id]));
  const missing = addresses.filter((a) => !contacts.has(a));
  if (missing.length > 0) {
    // The display name, else the address's local part.
    const names = missing.map((a) => wanted.get(a) || a.slice(0, a.lastIndexOf('@')));
    const { rows: created } = await db.query(
      `INSERT INTO contacts (full_name, email) SELECT * FROM unnest($1::text[], $2::text[]) RETURNING id, lower(email) AS address`,
      [names, missing],
    );
    for (const r of created) contacts.set(r.address, r.id);
  }
  for (const email of tracked) {
    for (const party of email.parties) {
      const id = party.address && !party.record ? contacts.get(party.address.toLowerCase()) : undefined;
      if (id) party.record = { type: 'contact', id };
    }
  }
}
