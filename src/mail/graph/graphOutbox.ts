import type { Message, Recipient } from '@microsoft/microsoft-graph-types';
import { classifyGraphFailure, decideGraphRetry, DEFAULT_GRAPH_RETRY, type GraphRetrySettings } from '../../policy/graphErrors';
import { decideGraphSendFailure, type GraphSendStage } from '../../policy/graphSend';
import type { OutgoingAttachment, OutgoingEmail, OutgoingParty, OutgoingStore } from '../../store/outgoingStore';
import type { Handover, OutgoingRoute, OutgoingTransport } from '../mailSender';
import { GRAPH_MAILBOX_CONCURRENCY, graphMailboxSlotKey, type GraphEndpoint } from './graphEndpoint';
import { GraphRequestError, GraphSession, type GraphSessionOptions } from './graphSession';

/**
 * The CRM email id is stamped on each draft in the product's own MAPI namespace (graph.md §4.1),
 * so a draft or sent copy is found again even when Exchange replaced the Message-ID.
 */
export const CRM_EMAIL_ID_PROPERTY = 'String {3c5e7a1d-9b2f-4e68-a0d4-6f1b8c2e9d57} Name CrmEmailId';
// Graph takes custom headers with x- names only (graph.md §5); these MAPI properties are the ones
// Exchange writes In-Reply-To and References from (PidTagInReplyToId, PidTagInternetReferences).
const IN_REPLY_TO_PROPERTY = 'String 0x1042';
const REFERENCES_PROPERTY = 'String 0x1039';
const IMMUTABLE_IDS = 'IdType="ImmutableId"';

// Graph takes at most 4 MB in one request; base64 grows content by a third (graph.md §5). Attachments
// ride in the draft's create request while it stays under the cap, the others are added to the
// draft one request each (up to 2.5 MB) or through an upload session (up to 150 MB).
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const REQUEST_MARGIN_BYTES = 64 * 1024;
const MAX_POSTED_ATTACHMENT_BYTES = 2.5 * 1024 * 1024;
export const MAX_ATTACHMENT_BYTES = 150 * 1024 * 1024;
// Upload chunks are multiples of 320 KiB, and under 4 MB each.
const UPLOAD_CHUNK_BYTES = 12 * 320 * 1024;

/** A failed Graph step of a send, for decideGraphSendFailure: the classified failure and the step. */
export class GraphSendError extends Error {
  readonly errorClass: GraphRequestError['errorClass'] | undefined;
  readonly statusCode: number | undefined;
  readonly throttled: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly stage: GraphSendStage,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'GraphSendError';
    const failure = cause instanceof GraphRequestError ? cause : undefined;
    this.errorClass = failure?.errorClass;
    this.statusCode = failure?.statusCode;
    this.throttled = failure?.throttled ?? false;
    this.retryAfterMs = failure?.retryAfterMs;
  }
}

/** An email Graph cannot take as it is: it fails without a request. */
class UnsendableEmail extends Error {
  readonly unsendable = true;
}

interface GraphMessageRef {
  id: string;
  internetMessageId?: string | null;
  isDraft?: boolean | null;
}

export interface GraphOutboxOptions {
  store: Pick<OutgoingStore, 'recordDraft'>;
  session?: GraphSessionOptions;
  retry?: GraphRetrySettings;
}

/**
 * Out through Microsoft Graph: each email is created as a draft (its id and internetMessageId
 * committed to the store), then the draft is sent; Exchange keeps the Sent Items copy itself. An
 * email a lost run left `sending` is looked up: its draft still a draft is sent, a draft gone or
 * sent (or, without a recorded draft, a copy in Sent Items) means it went out, and a draft made
 * but never recorded is adopted. The send request is never repeated (graph.md §1.6, §5).
 */
export function graphOutbox(endpoint: GraphEndpoint, options: GraphOutboxOptions): OutgoingRoute {
  const session = new GraphSession(endpoint, options.session);
  const retry = options.retry ?? DEFAULT_GRAPH_RETRY;
  // Drafts found for interrupted emails that had none recorded: the transport sends these.
  const adopted = new Map<string, string>();
  return {
    slot: { key: graphMailboxSlotKey(endpoint), cap: GRAPH_MAILBOX_CONCURRENCY },
    openTransport: async () => new GraphTransport(session, options.store, adopted, retry),
    decideFailure: decideGraphSendFailure,
    async findDelivered(emails: OutgoingEmail[], onProgress?: () => void): Promise<Set<string>> {
      const delivered = new Set<string>();
      try {
        for (const email of emails) {
          const outcome = email.draftId ? await lookUpDraft(session, email.draftId) : await lookUpUnrecorded(session, email, options.store, adopted);
          if (outcome === 'delivered') delivered.add(email.id);
          onProgress?.();
        }
      } catch (err) {
        // Graph's failures are decided as lookups; the store's (a database outage) go up as they are.
        throw err instanceof GraphRequestError ? new GraphSendError('lookup', err) : err;
      }
      return delivered;
    },
    sentCopies: null,
  };
}

/** The recorded draft: still a draft, so not sent; gone from the mailbox or no longer a draft, so it went out. */
async function lookUpDraft(session: GraphSession, draftId: string): Promise<'delivered' | 'unsent'> {
  try {
    const draft = await session.request<GraphMessageRef>({
      method: 'GET',
      url: `${session.userPath}/messages/${encodeURIComponent(draftId)}?$select=id,isDraft`,
      prefer: [IMMUTABLE_IDS],
    });
    return draft.isDraft === false ? 'delivered' : 'unsent';
  } catch (err) {
    // Sending moves the draft out of Drafts into a new Sent Items item (graph.md §5).
    if (err instanceof GraphRequestError && err.statusCode === 404 && err.errorClass !== 'permanent') return 'delivered';
    throw err;
  }
}

/**
 * An email whose draft was never recorded (the run was lost between creating it and committing
 * its id): a draft carrying its CRM id is adopted and recorded; else a copy in Sent Items means it
 * went out; else nothing was made and the transport starts afresh.
 */
async function lookUpUnrecorded(
  session: GraphSession,
  email: OutgoingEmail,
  store: Pick<OutgoingStore, 'recordDraft'>,
  adopted: Map<string, string>,
): Promise<'delivered' | 'unsent'> {
  const stamped = `singleValueExtendedProperties/Any(ep: ep/id eq '${CRM_EMAIL_ID_PROPERTY}' and ep/value eq '${email.id}')`;
  const drafts = (await list(session, 'drafts', stamped)).filter((d) => d.isDraft !== false);
  // A draft made in several requests may have been left without all its attachments: made again.
  if (!madeInOneRequest(email)) {
    for (const d of drafts) await session.request({ method: 'DELETE', url: `${session.userPath}/messages/${encodeURIComponent(d.id)}` });
    return 'unsent';
  }
  const draft = drafts[0];
  if (draft) {
    await store.recordDraft(email.id, { draftId: draft.id, messageId: draft.internetMessageId ?? email.messageId });
    adopted.set(email.id, draft.id);
    return 'unsent';
  }
  if ((await list(session, 'sentitems', stamped)).length > 0) return 'delivered';
  const byMessageId = await list(session, 'sentitems', `internetMessageId eq '${email.messageId.replace(/'/g, "''")}'`);
  return byMessageId.length > 0 ? 'delivered' : 'unsent';
}

/** Whether the email's draft is whole as created (its attachments all fit the create request). */
function madeInOneRequest(email: OutgoingEmail): boolean {
  try {
    return graphDraftOf(email, { address: '', name: null }).addedLater.length === 0;
  } catch (err) {
    // An email Graph cannot take at all: its send fails it, with the reason.
    if (err instanceof UnsendableEmail) return false;
    throw err;
  }
}

async function list(session: GraphSession, folder: 'drafts' | 'sentitems', filter: string): Promise<GraphMessageRef[]> {
  const page = await session.request<{ value: GraphMessageRef[] }>({
    method: 'GET',
    // The Graph client passes query values through as they are: the filter is encoded here.
    url: `${session.userPath}/mailFolders/${folder}/messages?$filter=${encodeURIComponent(filter)}&$select=id,internetMessageId,isDraft&$top=10`,
    prefer: [IMMUTABLE_IDS],
  });
  return page.value ?? [];
}

class GraphTransport implements OutgoingTransport {
  constructor(
    private readonly session: GraphSession,
    private readonly store: Pick<OutgoingStore, 'recordDraft'>,
    private readonly adopted: Map<string, string>,
    private readonly retry: GraphRetrySettings,
  ) {}

  async send(email: OutgoingEmail, from: OutgoingParty): Promise<Handover> {
    let draftId = email.draftId ?? this.adopted.get(email.id) ?? null;
    if (!draftId) {
      const plan = graphDraftOf(email, from);
      const draft = await this.createDraft(plan.message);
      for (const attachment of plan.addedLater) await this.addAttachment(draft.id, attachment);
      // Committed once the draft is whole, before the send: a run lost from here on finds the email by its draft.
      await this.store.recordDraft(email.id, { draftId: draft.id, messageId: draft.internetMessageId ?? email.messageId });
      draftId = draft.id;
    }
    try {
      await this.session.request({
        method: 'POST',
        url: `${this.session.userPath}/messages/${encodeURIComponent(draftId)}/send`,
        prefer: [IMMUTABLE_IDS],
        repeatable: false,
      });
    } catch (err) {
      throw new GraphSendError('send', err);
    }
    this.adopted.delete(email.id);
    return { rejected: [] };
  }

  /** Creates the draft; only a throttled answer (the request was not carried out) is asked again, so no second draft is made. */
  private async createDraft(message: Message): Promise<GraphMessageRef> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.session.request<GraphMessageRef>({
          method: 'POST',
          url: `${this.session.userPath}/messages`,
          body: message,
          prefer: [IMMUTABLE_IDS],
          repeatable: false,
        });
      } catch (err) {
        const decision = err instanceof GraphRequestError && err.statusCode === 429 ? decideGraphRetry(err, attempt, true, this.retry) : { retry: false as const };
        if (!decision.retry) throw new GraphSendError('draft', err);
        await new Promise((resolve) => setTimeout(resolve, decision.waitMs));
      }
    }
  }

  /** Adds an attachment the create request had no room for: in one request, or through an upload session. */
  private async addAttachment(draftId: string, a: OutgoingAttachment): Promise<void> {
    const messagePath = `${this.session.userPath}/messages/${encodeURIComponent(draftId)}/attachments`;
    try {
      if (a.content.length <= MAX_POSTED_ATTACHMENT_BYTES) {
        await this.session.request({ method: 'POST', url: messagePath, body: fileAttachment(a), repeatable: false });
        return;
      }
      const { uploadUrl } = await this.session.request<{ uploadUrl: string }>({
        method: 'POST',
        url: `${messagePath}/createUploadSession`,
        body: {
          AttachmentItem: {
            attachmentType: 'file',
            name: a.filename ?? 'attachment',
            size: a.content.length,
            contentType: a.contentType,
            isInline: a.inline,
            ...(a.contentId ? { contentId: bareContentId(a.contentId) } : {}),
          },
        },
      });
      for (let start = 0; start < a.content.length; start += UPLOAD_CHUNK_BYTES) {
        const chunk = a.content.subarray(start, Math.min(start + UPLOAD_CHUNK_BYTES, a.content.length));
        await uploadChunk(uploadUrl, chunk, start, a.content.length, this.session.endpoint.requestTimeoutMs);
      }
    } catch (err) {
      throw new GraphSendError('draft', err);
    }
  }

  async close(): Promise<void> {
    // Requests hold no connection of their own: nothing to close.
  }
}

function recipients(parties: OutgoingParty[]): Recipient[] {
  return parties.map((p) => ({ emailAddress: p.name ? { address: p.address, name: p.name } : { address: p.address } }));
}

/** An email as Graph drafts it: the create request, and the attachments added to the draft after it. */
export interface GraphDraftPlan {
  message: Message;
  addedLater: OutgoingAttachment[];
}

function fileAttachment(a: OutgoingAttachment): Record<string, unknown> {
  return {
    '@odata.type': '#microsoft.graph.fileAttachment',
    name: a.filename ?? 'attachment',
    contentType: a.contentType,
    contentBytes: a.content.toString('base64'),
    isInline: a.inline,
    ...(a.contentId ? { contentId: bareContentId(a.contentId) } : {}),
  };
}

function bareContentId(contentId: string): string {
  return contentId.replace(/^<|>$/g, '');
}

/**
 * The draft for one email. Graph has one body: the HTML one when the email has it (Exchange makes
 * the text part itself). The From is the mailbox (app-only sending is as the mailbox's user).
 * Attachments ride in the create request, in order, while it stays under Graph's 4 MB; the rest
 * are added to the draft after it.
 */
export function graphDraftOf(email: OutgoingEmail, from: OutgoingParty): GraphDraftPlan {
  const tooLarge = email.attachments.find((a) => a.content.length > MAX_ATTACHMENT_BYTES);
  if (tooLarge) {
    throw new UnsendableEmail(
      `The attachment "${tooLarge.filename ?? 'attachment'}" is ${(tooLarge.content.length / 1024 / 1024).toFixed(1)} MB; Microsoft Graph takes at most 150 MB per attachment`,
    );
  }
  const properties = [{ id: CRM_EMAIL_ID_PROPERTY, value: email.id }];
  if (email.inReplyTo) properties.push({ id: IN_REPLY_TO_PROPERTY, value: email.inReplyTo });
  if (email.references.length > 0) properties.push({ id: REFERENCES_PROPERTY, value: email.references.join(' ') });
  const message: Message = {
    subject: email.subject ?? '',
    body: email.bodyHtml !== null ? { contentType: 'html', content: email.bodyHtml } : { contentType: 'text', content: email.bodyText ?? '' },
    toRecipients: recipients(email.to),
    ccRecipients: recipients(email.cc),
    bccRecipients: recipients(email.bcc),
    internetMessageId: email.messageId,
    singleValueExtendedProperties: properties,
  };
  // Measured without the From, so that the plan depends on the email alone (see lookUpUnrecorded).
  let room = MAX_REQUEST_BYTES - REQUEST_MARGIN_BYTES - Buffer.byteLength(JSON.stringify(message));
  if (from.name) message.from = { emailAddress: { address: from.address, name: from.name } };
  const inCreate: Record<string, unknown>[] = [];
  const addedLater: OutgoingAttachment[] = [];
  for (const a of email.attachments) {
    const attachment = fileAttachment(a);
    const size = Buffer.byteLength(JSON.stringify(attachment));
    if (addedLater.length === 0 && size <= room) {
      inCreate.push(attachment);
      room -= size;
    } else {
      addedLater.push(a);
    }
  }
  if (inCreate.length > 0) message.attachments = inCreate;
  return { message, addedLater };
}

/**
 * One PUT to an upload session. Its URL is pre-authenticated: it gets no bearer token (Graph
 * refuses one there), so it goes by fetch rather than the Graph client.
 */
async function uploadChunk(uploadUrl: string, chunk: Buffer, start: number, total: number, timeoutMs: number): Promise<void> {
  let res: Response;
  try {
    res = await fetch(uploadUrl, {
      method: 'PUT',
      headers: { 'Content-Range': `bytes ${start}-${start + chunk.length - 1}/${total}`, 'Content-Type': 'application/octet-stream' },
      body: chunk,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw new GraphRequestError(classifyGraphFailure({ statusCode: -1, networkCode: cause?.code, message: (err as Error).message }), -1, cause?.code ?? null);
  }
  if (res.ok) return;
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  const code = body.error?.code ?? null;
  throw new GraphRequestError(classifyGraphFailure({ statusCode: res.status, code, message: body.error?.message }), res.status, code);
}
