import type { PoolClient } from 'pg';
import { insertAttachments } from './emailContent';
import { trackEmails, type TrackedEmail } from './pgTracking';
import { SyncSupersededError, type IncomingBatchCommit } from './syncStore';

// Seed of the advisory-lock keys taken per Message-ID while storing (single-key locks: the
// connection slots' two-key locks are another key space).
const MESSAGE_ID_LOCK_SEED = 9;

/**
 * One batch of a folder, in the caller's transaction: its emails (those the tracking option takes)
 * as activities with their parties, attachments, links and queue items, its item errors, and the
 * folder's cursor and progress, in a handful of statements whatever the batch's size (each
 * statement is a round trip during which the batch holds the pipeline's commit stage).
 */
export async function storeIncomingBatch(db: PoolClient, commit: IncomingBatchCommit): Promise<{ created: number; storedRemoteIds: string[] }> {
  const contentHashes = [...new Set(commit.emails.flatMap((e) => e.message.attachments.map((a) => a.sha256)))];
  // Holds off a concurrent remap or disable until this batch is in, and refuses the batch
  // if one already happened: nothing synced after a remap belongs to the old owner.
  // The Message-ID locks serialise the batches that store one Message-ID, so that of two variants
  // stored at once from two mailboxes the second sees the first (read by a later statement, which
  // starts after they are granted). Taken in one order, so two batches cannot deadlock.
  const { rows: current } = await db.query(
    `SELECT m.mapping_version, m.incoming_enabled, o.max_attachment_bytes,
            ARRAY(SELECT remote_id FROM item_links WHERE mailbox_id = m.id AND folder = $2 AND remote_id = ANY($3::text[])) AS linked,
            ARRAY(SELECT sha256 FROM attachment_contents WHERE sha256 = ANY($4::text[])) AS stored_contents,
            (SELECT count(pg_advisory_xact_lock(k))
               FROM (SELECT DISTINCT hashtextextended(id, ${MESSAGE_ID_LOCK_SEED}) AS k FROM unnest($5::text[]) id ORDER BY 1) keys) AS locked
       FROM mailboxes m CROSS JOIN organization_settings o WHERE m.id = $1 FOR SHARE OF m`,
    [commit.mailboxId, commit.folder, commit.emails.map((e) => e.remoteId), contentHashes, [...new Set(commit.emails.map((e) => e.message.messageId))]],
  );
  if (!current[0] || !current[0].incoming_enabled) throw new SyncSupersededError('disabled');
  if (current[0].mapping_version !== commit.mappingVersion) throw new SyncSupersededError('remapped');
  if (commit.reset) {
    await db.query(`DELETE FROM item_links WHERE mailbox_id = $1 AND folder = $2`, [commit.mailboxId, commit.folder]);
  }
  const removed = new Set(commit.removed ?? []);
  if (removed.size > 0) {
    await db.query(`DELETE FROM item_links WHERE mailbox_id = $1 AND folder = $2 AND remote_id = ANY($3::text[])`, [commit.mailboxId, commit.folder, [...removed]]);
  }
  // A message listed again in its folder (a Graph delta repeats itself) is stored already.
  const known = new Set<string>(commit.reset ? [] : (current[0].linked as string[]).filter((id) => !removed.has(id)));
  const emails = known.size > 0 ? commit.emails.filter((e) => !known.has(e.remoteId)) : commit.emails;
  // Decided here rather than before the commit, so a message sees the batches stored before it.
  const tracked = emails.length > 0 ? await trackEmails(db, { ...commit, emails }) : [];
  const activities = tracked.length > 0 ? await resolveActivities(db, tracked, commit.ownerUserId) : { ids: [], created: new Map<string, TrackedEmail>(), rows: [] };
  await writeBatch(db, commit, tracked, activities);
  if (activities.created.size > 0) {
    await insertAttachments(
      db,
      [...activities.created].map(([emailActivityId, { message: m }]) => ({ emailActivityId, attachments: m.attachments, content: m.attachmentContent })),
      current[0].max_attachment_bytes,
      new Set(current[0].stored_contents),
    );
  }
  if (commit.errors.length > 0) await recordItemErrors(db, commit);
  if (commit.listed) {
    await db.query(`DELETE FROM seen_remote_ids WHERE mailbox_id = $1 AND folder = $2 AND NOT (remote_id = ANY($3::text[]))`, [
      commit.mailboxId,
      commit.folder,
      commit.listed,
    ]);
  }
  if (commit.seen && commit.seen.length > 0) {
    await db.query(`INSERT INTO seen_remote_ids (mailbox_id, folder, remote_id) SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING`, [
      commit.mailboxId,
      commit.folder,
      commit.seen,
    ]);
  }
  return { created: activities.created.size, storedRemoteIds: tracked.map((e) => e.remoteId) };
}

/** A new activity's row, column by column as email_activities names them. */
interface ActivityRow {
  id: string;
  message_id: string;
  content_digest: string;
  variant_of: string | null;
  subject: string | null;
  body_text: string | null;
  body_html: string | null;
  sent_at: Date | null;
  received_at: Date | null;
  in_reply_to: string | null;
  /** The References as a JSON array: arrays of unequal length do not fit in one SQL array. */
  refs: string;
  size_bytes: number;
  direction: string;
  status: string;
  owner_user_id: string | null;
  conversation_id: string;
  correlation_method: string | null;
  correlated_activity_id: string | null;
  regarding_type: string | null;
  regarding_id: string | null;
  tracking_token: string | null;
  normalised_subject: string | null;
}

interface ResolvedActivities {
  /** `ids[i]` is the activity of the batch's i-th tracked email. */
  ids: string[];
  /** Each new activity and the email it is made from. */
  created: Map<string, TrackedEmail>;
  rows: ActivityRow[];
}

/**
 * Finds or makes the activity of each email, its Message-ID locked (storeIncomingBatch). Copies of
 * one message (same Message-ID, same content digest) share one activity whatever mailbox they come
 * from; a different message reusing a Message-ID gets its own, a variant of the first activity
 * with that Message-ID. New ones carry their tracking (src/store/pgTracking.ts); mail the mailbox
 * sent is stored as sent, owned by its owner.
 */
async function resolveActivities(db: PoolClient, emails: TrackedEmail[], ownerUserId: string | null): Promise<ResolvedActivities> {
  const messageIds = [...new Set(emails.map((e) => e.message.messageId))];
  const { rows: stored } = await db.query(
    `SELECT id, message_id, content_digest, variant_of FROM email_activities WHERE message_id = ANY($1) ORDER BY created_at, id`,
    [messageIds],
  );
  const key = (messageId: string, digest: string) => `${digest} ${messageId}`;
  const byContent = new Map<string, string>();
  // Activities stored before content digests were kept (NULL): a copy with their Message-ID is
  // taken to be the same message, as it was then.
  const undigested = new Map<string, string>();
  // The first activity of each Message-ID, which later variants point to.
  const firsts = new Map<string, string>();
  for (const r of stored) {
    if (r.content_digest === null) undigested.set(r.message_id, r.id);
    else byContent.set(key(r.message_id, r.content_digest), r.id);
    if (r.variant_of === null && !firsts.has(r.message_id)) firsts.set(r.message_id, r.id);
  }
  const created = new Map<string, TrackedEmail>();
  // An email correlated with an earlier one of its batch that turned out to be stored already points to the stored one.
  const storedAs = new Map<string, string>();
  const ids = emails.map((email) => {
    const { messageId, contentDigest } = email.message;
    const found = byContent.get(key(messageId, contentDigest)) ?? undigested.get(messageId);
    if (found) {
      storedAs.set(email.activity.id, found);
      return found;
    }
    const id = email.activity.id;
    byContent.set(key(messageId, contentDigest), id);
    if (!firsts.has(messageId)) firsts.set(messageId, id);
    created.set(id, email);
    return id;
  });
  const rows = [...created].map(([id, { message: m, receivedAt, direction, activity: t }]): ActivityRow => {
    const first = firsts.get(m.messageId)!;
    return {
      id,
      message_id: m.messageId,
      content_digest: m.contentDigest,
      variant_of: first === id ? null : first,
      subject: m.subject,
      body_text: m.bodyText,
      body_html: m.bodyHtml,
      sent_at: m.sentAt,
      received_at: receivedAt,
      in_reply_to: m.inReplyTo,
      refs: JSON.stringify(m.references),
      size_bytes: m.sizeBytes,
      direction,
      status: direction === 'outgoing' ? 'sent' : 'received',
      owner_user_id: direction === 'outgoing' ? ownerUserId : null,
      conversation_id: storedAs.get(t.conversationId) ?? t.conversationId,
      correlation_method: t.correlationMethod,
      correlated_activity_id: t.correlatedActivityId && (storedAs.get(t.correlatedActivityId) ?? t.correlatedActivityId),
      regarding_type: t.regarding?.type ?? null,
      regarding_id: t.regarding?.id ?? null,
      tracking_token: t.trackingToken,
      normalised_subject: t.normalisedSubject,
    };
  });
  return { ids, created, rows };
}

const ACTIVITY_COLUMNS: [keyof ActivityRow, string][] = [
  ['id', 'uuid'],
  ['message_id', 'text'],
  ['content_digest', 'text'],
  ['variant_of', 'uuid'],
  ['subject', 'text'],
  ['body_text', 'text'],
  ['body_html', 'text'],
  ['sent_at', 'timestamptz'],
  ['received_at', 'timestamptz'],
  ['in_reply_to', 'text'],
  ['refs', 'text'],
  ['size_bytes', 'integer'],
  ['direction', 'text'],
  ['status', 'text'],
  ['owner_user_id', 'uuid'],
  ['conversation_id', 'uuid'],
  ['correlation_method', 'text'],
  ['correlated_activity_id', 'uuid'],
  ['regarding_type', 'text'],
  ['regarding_id', 'uuid'],
  ['tracking_token', 'text'],
  ['normalised_subject', 'text'],
];

const activityParams = ACTIVITY_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ');
const activityNames = ACTIVITY_COLUMNS.map(([name]) => name);
const param = (n: number) => `$${ACTIVITY_COLUMNS.length + n}`;

/**
 * The batch's rows in one statement, as column arrays: cheaper for the database than JSON records
 * (about half, measured on a batch of 100 emails). Prepared once per connection. Foreign keys between
 * the parts (a party's activity, a variant's first) are checked at the statement's end, when all are in.
 */
const WRITE_BATCH = `
  WITH activities AS (
    INSERT INTO email_activities (${activityNames.map((n) => (n === 'refs' ? '"references"' : n)).join(', ')})
    SELECT ${activityNames.map((n) => (n === 'refs' ? 'ARRAY(SELECT jsonb_array_elements_text(r.refs::jsonb))' : `r.${n}`)).join(', ')}
      FROM unnest(${activityParams}) AS r(${activityNames.join(', ')})
  ), parties AS (
    INSERT INTO email_parties (email_activity_id, role, address, display_name, party_type, party_id)
    SELECT * FROM unnest(${param(1)}::uuid[], ${param(2)}::text[], ${param(3)}::text[], ${param(4)}::text[], ${param(5)}::text[], ${param(6)}::uuid[])
    ON CONFLICT DO NOTHING
  ), links AS (
    INSERT INTO item_links (mailbox_id, folder, remote_id, item_type, crm_record_id, owner_user_id)
    SELECT ${param(7)}, ${param(8)}, l.remote_id, 'email', l.crm_record_id, ${param(9)}
      FROM unnest(${param(10)}::text[], ${param(11)}::uuid[]) AS l(remote_id, crm_record_id)
    ON CONFLICT DO NOTHING
  ), queued AS (
    INSERT INTO queue_items (queue_id, email_activity_id, mailbox_id)
    SELECT ${param(12)}, a.id, ${param(7)} FROM (SELECT DISTINCT unnest(${param(11)}::uuid[]) AS id) a WHERE ${param(12)}::uuid IS NOT NULL
    ON CONFLICT (queue_id, email_activity_id) DO NOTHING
  ), progress AS (
    UPDATE mailboxes SET sync_progress = ${param(13)}::jsonb || jsonb_build_object('updatedAt', now(), 'startedAt', last_sync_started_at)
     WHERE id = ${param(7)} AND ${param(13)}::jsonb IS NOT NULL
  ), moved AS (
    INSERT INTO folder_cursors (mailbox_id, folder, cursor) SELECT ${param(7)}, ${param(8)}, ${param(14)}::jsonb WHERE ${param(14)}::jsonb IS NOT NULL
    ON CONFLICT (mailbox_id, folder) DO UPDATE SET cursor = excluded.cursor, updated_at = now()
  )
  SELECT 1`;

/** New activities and their parties, every tracked email's link (and queue item), the progress and the cursor. */
async function writeBatch(db: PoolClient, commit: IncomingBatchCommit, tracked: TrackedEmail[], activities: ResolvedActivities): Promise<void> {
  if (tracked.length === 0 && !commit.progress && !commit.cursor) return;
  const parties = [...activities.created].flatMap(([id, email]) => email.parties.map((party) => ({ id, party })));
  await db.query({
    name: 'store-incoming-batch',
    text: WRITE_BATCH,
    values: [
      ...ACTIVITY_COLUMNS.map(([name]) => activities.rows.map((row) => row[name])),
      parties.map((x) => x.id),
      parties.map((x) => x.party.role),
      parties.map((x) => x.party.address),
      parties.map((x) => x.party.name),
      parties.map((x) => x.party.record?.type ?? null),
      parties.map((x) => x.party.record?.id ?? null),
      commit.mailboxId,
      commit.folder,
      commit.ownerUserId,
      tracked.map((e) => e.remoteId),
      activities.ids,
      commit.ownerQueueId,
      commit.progress ? JSON.stringify(commit.progress) : null,
      commit.cursor ? JSON.stringify(commit.cursor) : null,
    ],
  });
}

/** Each item error, and an alert for it to the owner (the admins when the mailbox has none); never deduplicated. */
async function recordItemErrors(db: PoolClient, commit: IncomingBatchCommit): Promise<void> {
  const errors = JSON.stringify(commit.errors.map((e) => ({ remote_id: e.remoteId, message: e.message })));
  await db.query(
    `INSERT INTO sync_errors (mailbox_id, scope, error_class, folder, remote_id, message)
     SELECT $1, 'item', 'item', $2, r.remote_id, r.message FROM jsonb_to_recordset($3::jsonb) AS r(remote_id text, message text)
     ON CONFLICT (mailbox_id, folder, remote_id) WHERE scope = 'item'
     DO UPDATE SET message = excluded.message, occurred_at = now()`,
    [commit.mailboxId, commit.folder, errors],
  );
  await db.query(
    `INSERT INTO alerts (level, scope, audiences, mailbox_id, user_id, message)
     SELECT 'warning', 'email_item', CASE WHEN $2::uuid IS NULL THEN ARRAY['admins'] ELSE ARRAY['mailbox_owner'] END, $1, $2,
            format('A message in %s was not synced: %s', $3::text, r.message)
       FROM jsonb_to_recordset($4::jsonb) AS r(remote_id text, message text)`,
    [commit.mailboxId, commit.ownerUserId, commit.folder, errors],
  );
}
