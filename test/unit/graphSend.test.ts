import { CRM_EMAIL_ID_PROPERTY, graphDraftOf } from '../../src/mail/graph/graphOutbox';
import { decideGraphSendFailure } from '../../src/policy/graphSend';
import type { OutgoingEmail } from '../../src/store/outgoingStore';

const graphFailure = (fields: Record<string, unknown>) => Object.assign(new Error(String(fields.message ?? 'failed')), fields);

describe('decideGraphSendFailure', () => {
  it('disables outgoing on a permanent failure, with its readable message', () => {
    const message = 'Microsoft Graph refused the request (ErrorAccessDenied): the app registration lacks a permission this needs';
    expect(decideGraphSendFailure(graphFailure({ stage: 'send', errorClass: 'permanent', statusCode: 403, message }))).toEqual({ kind: 'disable', reason: message });
  });

  it('fails the one email Graph refuses as it is', () => {
    expect(decideGraphSendFailure(graphFailure({ stage: 'draft', errorClass: 'transient', statusCode: 400, message: 'bad address' }))).toEqual({
      kind: 'reject',
      reason: 'Microsoft Graph refused the email: bad address',
    });
    expect(decideGraphSendFailure(graphFailure({ unsendable: true, message: 'too large' }))).toEqual({ kind: 'reject', reason: 'too large' });
  });

  it('leaves an email whose send request got no answer for the next run to look up, never to resend', () => {
    for (const statusCode of [503, 504, 500, -1, 404]) {
      expect(decideGraphSendFailure(graphFailure({ stage: 'send', errorClass: 'transient', statusCode }))).toMatchObject({
        kind: 'unreachable',
        mayHaveBeenAccepted: true,
      });
    }
    expect(decideGraphSendFailure(graphFailure({ stage: 'send', errorClass: 'transient', statusCode: 429, throttled: true }))).toMatchObject({
      kind: 'throttled',
      mayHaveBeenAccepted: true,
    });
  });

  it('looks up a draft that may have been made, but not after a throttled create that was not carried out', () => {
    expect(decideGraphSendFailure(graphFailure({ stage: 'draft', errorClass: 'transient', statusCode: 503 }))).toMatchObject({ kind: 'unreachable', mayHaveBeenAccepted: true });
    expect(decideGraphSendFailure(graphFailure({ stage: 'draft', errorClass: 'transient', statusCode: 429, throttled: true, retryAfterMs: 12_000 }))).toEqual({
      kind: 'throttled',
      reason: expect.any(String),
      retryAfterMs: 12_000,
      mayHaveBeenAccepted: false,
    });
  });

  it('never fails an email for a failed lookup, and treats an unknown error as one that may have sent', () => {
    expect(decideGraphSendFailure(graphFailure({ stage: 'lookup', errorClass: 'transient', statusCode: 400 }))).toMatchObject({ kind: 'unreachable' });
    expect(decideGraphSendFailure(new Error('connection terminated'))).toMatchObject({ kind: 'unreachable', mayHaveBeenAccepted: true });
  });
});

describe('graphDraftOf', () => {
  const email: OutgoingEmail = {
    id: '0b6e1c52-5d7e-4b36-9a57-1f1f5f2c8a10',
    messageId: '<abc@example.test>',
    date: new Date('2026-12-01T10:00:00Z'),
    interrupted: false,
    accepted: false,
    sendAttempts: 0,
    draftId: null,
    to: [{ address: 'ann@example.test', name: 'Ann' }],
    cc: [{ address: 'bob@example.test', name: null }],
    bcc: [{ address: 'cy@example.test', name: null }],
    subject: 'Offer [CRM-1]',
    bodyText: 'Hello',
    bodyHtml: '<p>Hello</p>',
    inReplyTo: '<parent@example.test>',
    references: ['<root@example.test>', '<parent@example.test>'],
    attachments: [{ filename: 'a.txt', contentType: 'text/plain', contentId: '<logo@x>', inline: true, content: Buffer.from('hi') }],
  };

  it('carries recipients, subject, HTML body, Message-ID, the CRM id and the threading headers', () => {
    expect(graphDraftOf(email, { address: 'me@example.test', name: 'Me' }).message).toEqual({
      subject: 'Offer [CRM-1]',
      body: { contentType: 'html', content: '<p>Hello</p>' },
      toRecipients: [{ emailAddress: { address: 'ann@example.test', name: 'Ann' } }],
      ccRecipients: [{ emailAddress: { address: 'bob@example.test' } }],
      bccRecipients: [{ emailAddress: { address: 'cy@example.test' } }],
      internetMessageId: '<abc@example.test>',
      from: { emailAddress: { address: 'me@example.test', name: 'Me' } },
      singleValueExtendedProperties: [
        { id: CRM_EMAIL_ID_PROPERTY, value: email.id },
        { id: 'String 0x1042', value: '<parent@example.test>' },
        { id: 'String 0x1039', value: '<root@example.test> <parent@example.test>' },
      ],
      attachments: [
        { '@odata.type': '#microsoft.graph.fileAttachment', name: 'a.txt', contentType: 'text/plain', contentBytes: 'aGk=', isInline: true, contentId: 'logo@x' },
      ],
    });
  });

  it('sends the text body when there is no HTML one', () => {
    expect(graphDraftOf({ ...email, bodyHtml: null }, { address: 'me@example.test', name: null }).message.body).toEqual({ contentType: 'text', content: 'Hello' });
  });

  it('keeps attachments in the create request while it stays under 4 MB, and adds the rest after it, in order', () => {
    const mb = (n: number, name: string) => ({ ...email.attachments[0], filename: name, content: Buffer.alloc(Math.round(n * 1024 * 1024)) });
    const plan = graphDraftOf({ ...email, attachments: [mb(1, 'a'), mb(1.5, 'b'), mb(1, 'c'), mb(0.1, 'd')] }, { address: 'me@example.test', name: null });
    expect(plan.message.attachments?.map((a) => a.name)).toEqual(['a', 'b']);
    expect(plan.addedLater.map((a) => a.filename)).toEqual(['c', 'd']);
    expect(Buffer.byteLength(JSON.stringify(plan.message))).toBeLessThan(4 * 1024 * 1024);
  });

  it('refuses an attachment over 150 MB with a reason naming the limit', () => {
    const big = { ...email, attachments: [{ ...email.attachments[0], content: Buffer.alloc(150 * 1024 * 1024 + 1) }] };
    const err = catchError(() => graphDraftOf(big, { address: 'me@example.test', name: null }));
    expect(err).toMatchObject({ message: expect.stringMatching(/at most 150 MB/) });
    expect(decideGraphSendFailure(err)).toMatchObject({ kind: 'reject' });
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
