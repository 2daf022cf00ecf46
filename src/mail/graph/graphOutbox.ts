import type { Message, Recipient } from '@microsoft/microsoft-graph-types';
import { decideGraphRetry, DEFAULT_GRAPH_RETRY, type GraphRetrySettings } from '../../policy/graphErrors';
import { decideGraphSendFailure, type GraphSendStage } from '../../policy/graphSend';
import type { OutgoingEmail, OutgoingParty, OutgoingStore } from '../../store/outgoingStore';
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

/**
 * Attachments travel inside the draft's create request, which Graph caps at 4 MB; base64 makes
 * 3 MB of content about 4 MB (graph.md §5). Larger ones need an upload session, not built yet.
 */
export const MAX_INLINE_ATTACHMENT_BYTES = 3 * 1024 * 1024;

/** A failed Graph step of a send, for decideGraphSendFailure: the classified failure and the step. */
export class GraphSendError extends Error {
  readonly errorClass: GraphRequestError['errorClass'] | undefined;
  readonly statusCode: number | undefined;
  readonly throttled: boolean;

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
  const drafts = await list(session, 'drafts', stamped);
  const draft = drafts.find((d) => d.isDraft !== false);
  if (draft) {
    await store.recordDraft(email.id, { draftId: draft.id, messageId: draft.internetMessageId ?? email.messageId });
    adopted.set(email.id, draft.id);
    return 'unsent';
  }
  if ((await list(session, 'sentitems', stamped)).length > 0) return 'delivered';
  const byMessageId = await list(session, 'sentitems', `internetMessageId eq '${email.messageId.replace(/'/g, "''")}'`);
  return byMessageId.length > 0 ? 'delivered' : 'unsent';
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
      const draft = await this.createDraft(graphDraftOf(email, from));
      // Committed before the send: a run lost from here on finds the email by its draft.
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

  async close(): Promise<void> {
    // Requests hold no connection of their own: nothing to close.
  }
}

function recipients(parties: OutgoingParty[]): Recipient[] {
  return parties.map((p) => ({ emailAddress: p.name ? { address: p.address, name: p.name } : { address: p.address } }));
}

/**
 * The draft for one email. Graph has one body: the HTML one when the email has it (Exchange makes
 * the text part itself). The From is the mailbox (app-only sending is as the mailbox's user).
 */
export function graphDraftOf(email: OutgoingEmail, from: OutgoingParty): Message {
  const attachmentBytes = email.attachments.reduce((sum, a) => sum + a.content.length, 0);
  if (attachmentBytes > MAX_INLINE_ATTACHMENT_BYTES) {
    throw new UnsendableEmail(
      `Its attachments total ${(attachmentBytes / 1024 / 1024).toFixed(1)} MB; through Microsoft Graph this product sends at most 3 MB of attachments per email`,
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
  if (from.name) message.from = { emailAddress: { address: from.address, name: from.name } };
  if (email.attachments.length > 0) {
    message.attachments = email.attachments.map((a) => ({
      '@odata.type': '#microsoft.graph.fileAttachment',
      name: a.filename ?? 'attachment',
      contentType: a.contentType,
      contentBytes: a.content.toString('base64'),
      isInline: a.inline,
      ...(a.contentId ? { contentId: a.contentId.replace(/^<|>$/g, '') } : {}),
    }));
  }
  return message;
}
