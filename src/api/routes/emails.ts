import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { RouteContext } from './context';
import { AttachmentRef, EmailActivityQuery, MAX_SEND_ATTACHMENT_TOTAL_BYTES, SendEmailRequest } from '../../admin/crmSchemas';
import { ForbiddenError, NotFoundError } from '../../admin/errors';
import type { OutgoingEmailService } from '../../admin/outgoingEmailService';
import type { CrmRecords } from '../../crm/crmRecords';
import { EmailActivityPageResponse, EmailActivityResponse, EmailAttachmentResponse } from '../crmResponses';
import { IdParams, errors } from '../responses';

const AttachmentParams = IdParams.extend(AttachmentRef.shape);

// A type/subtype with parameters, nothing a header cannot carry; anything else is served as bytes.
const CONTENT_TYPE = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(\s*;\s*[\w!#$&^.+-]+=("[^"\\\r\n]*"|[\w!#$&^.+-]+))*$/;

// A send request carries its attachments base64-encoded (4 bytes for 3) beside bodies, recipients and JSON.
const SEND_BODY_LIMIT = Math.ceil(MAX_SEND_ATTACHMENT_TOTAL_BYTES / 3) * 4 + 16 * 1024 * 1024;

/** An `attachment` disposition naming the file: an ASCII fallback, and RFC 5987's UTF-8 form for the real name. */
function attachmentDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

/**
 * CRM email activities with their parties and attachments: admins see all; a user token, those of its
 * own mailbox and those it sends. With `outgoing`, POST /emails queues one to be sent.
 */
export function registerEmailRoutes(ctx: RouteContext, crm: CrmRecords, outgoing?: OutgoingEmailService): void {
  const { api, service, principalOf, isAdmin, ownUserId, mailboxFor } = ctx;

  /** The caller's own mailbox id (user tokens); a user without a mailbox has no activities to see. */
  const ownMailboxId = async (request: FastifyRequest): Promise<string> => {
    const [own] = await service.listMailboxes({ ownerUserId: ownUserId(request) });
    if (!own) throw new ForbiddenError('A user token may only see the email activities of its own mailbox, and this user has none');
    return own.id;
  };

  /** Admins may see any activity, a user token those synced from its own mailbox and those it sends. */
  const checkVisible = async (request: FastifyRequest, id: string): Promise<void> => {
    if (isAdmin(principalOf(request))) return;
    // As with mailboxes: an activity that does not exist looks the same as another mailbox's.
    const [mailboxId, access] = await Promise.all([
      ownMailboxId(request),
      crm.emails.access(id).catch((err) => {
        if (err instanceof NotFoundError) return { mailboxIds: [] as string[], ownerUserId: null };
        throw err;
      }),
    ]);
    if (!access.mailboxIds.includes(mailboxId) && access.ownerUserId !== ownUserId(request)) {
      throw new ForbiddenError('A user token may only see the email activities of its own mailbox');
    }
  };

  api.get(
    '/emails',
    {
      config: { access: 'user' },
      schema: {
        tags: ['emails'],
        summary: 'Email activities with their parties, newest first (a user token: those of its own mailbox)',
        description: 'Filter by mailbox, party address and date; page with `limit` and the `nextCursor` of the previous page.',
        querystring: EmailActivityQuery.strict(),
        response: { 200: EmailActivityPageResponse, ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      if (isAdmin(principalOf(request))) return crm.emails.list(request.query);
      const mailboxId = request.query.mailboxId ? (await mailboxFor(request, request.query.mailboxId)).id : await ownMailboxId(request);
      return crm.emails.list({ ...request.query, mailboxId });
    },
  );

  if (outgoing) {
    api.post(
      '/emails',
      {
        config: { access: 'user' },
        bodyLimit: SEND_BODY_LIMIT,
        schema: {
          tags: ['emails'],
          summary: "Queues an email to be sent through the sender's mailbox (the CRM's send button)",
          description:
            'From a user or a queue, to/cc/bcc as addresses or CRM records (their email address), with text and HTML bodies, ' +
            'attachments (base64) and the record it is about. Answers `202` with the email, status `pending_send`: its mailbox ' +
            "workflow sends it within seconds (GET /emails/:id shows how it went). Refused, with nothing queued: `400` (no " +
            'recipients, an address that is none, a record that does not exist or has no email address, bad base64), `409` (the ' +
            'sender has no mailbox, or its outgoing direction is disabled: run Test & Enable), `413` (an attachment over ' +
            '`maxAttachmentBytes`, or attachments together over 32 MiB). A user token may send as its own user only.',
          body: SendEmailRequest.strict(),
          response: { 202: EmailActivityResponse, ...errors(400, 401, 403, 409, 413) },
        },
      },
      async (request, reply) => {
        const { from } = request.body;
        if (!isAdmin(principalOf(request)) && !('userId' in from && from.userId === ownUserId(request))) {
          throw new ForbiddenError('A user token may only send as its own user: set from to { "userId": "<your user id>" }');
        }
        const { email, signalError } = await outgoing.send(request.body);
        if (signalError) {
          request.log.warn({ emailId: email.id, signalError }, 'queued email: its mailbox workflow was not signalled; the database notification and the sweep will pick it up');
        }
        return reply.code(202).send(email);
      },
    );
  }

  api.get(
    '/emails/:id',
    {
      config: { access: 'user' },
      schema: {
        tags: ['emails'],
        summary: 'An email activity: the message with its bodies, parties, attachments and the mailboxes it came from',
        params: IdParams,
        response: { 200: EmailActivityResponse, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await checkVisible(request, request.params.id);
      return crm.emails.get(request.params.id);
    },
  );

  api.get(
    '/emails/:id/attachments',
    {
      config: { access: 'user' },
      schema: {
        tags: ['emails'],
        summary: "An email activity's attachments, described (`stored: false` for one whose content is not kept)",
        params: IdParams,
        response: { 200: z.array(EmailAttachmentResponse), ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await checkVisible(request, request.params.id);
      return crm.emails.attachments(request.params.id);
    },
  );

  api.get(
    '/emails/:id/attachments/:position',
    {
      config: { access: 'user' },
      schema: {
        tags: ['emails'],
        summary: 'Downloads an attachment: its content, with its type and file name',
        description:
          'Always as a download (`Content-Disposition: attachment`), never rendered by the browser. `404` with a message for an ' +
          'attachment whose content is not kept (`stored: false`: over the size limit when it was synced).',
        params: AttachmentParams,
        // Sent as bytes, not serialised: the schema only documents it.
        response: { 200: z.any().describe("The attachment's content, as its own Content-Type"), ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await checkVisible(request, request.params.id);
      const { attachment, content } = await crm.emails.attachmentContent(request.params.id, request.params.position);
      return reply
        .type(CONTENT_TYPE.test(attachment.contentType) ? attachment.contentType : 'application/octet-stream')
        .header('content-disposition', attachmentDisposition(attachment.filename ?? `attachment-${attachment.position}`))
        // The content is the sender's: the browser must neither guess its type nor run it as this origin.
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "sandbox; default-src 'none'")
        .send(content);
    },
  );
}
