import { createHash } from 'node:crypto';
import type { Message } from '@microsoft/microsoft-graph-types';
import { emailFromGraph, receivedAtOf, referencesInlineImages } from '../../src/mail/graph/graphMessage';

function graphMessage(overrides: Partial<Message> = {}): Message {
  return {
    id: 'AAkALgImmutable1',
    subject: 'Quarterly figures',
    from: { emailAddress: { name: 'Carol Customer', address: 'Carol@Customer.test' } },
    sender: { emailAddress: { name: 'Carol Customer', address: 'Carol@Customer.test' } },
    toRecipients: [{ emailAddress: { name: 'Alice', address: 'alice@example.test' } }],
    ccRecipients: [{ emailAddress: { name: 'bob@example.test', address: 'bob@example.test' } }],
    bccRecipients: [],
    replyTo: [],
    body: { contentType: 'html', content: '<html><body><p onclick="x()">Hello <b>Alice</b></p><script>alert(1)</script><img src="https://tracker.test/p.gif"></body></html>' },
    receivedDateTime: '2026-11-30T10:00:05Z',
    sentDateTime: '2026-11-30T10:00:00Z',
    internetMessageId: '<figures-1@customer.test>',
    internetMessageHeaders: [
      { name: 'Received', value: 'from mx1.customer.test by mx.example.test' },
      { name: 'In-Reply-To', value: '<question-1@example.test>' },
      { name: 'References', value: '<thread-0@example.test>\r\n <question-1@example.test>' },
    ],
    conversationId: 'conv-1',
    hasAttachments: false,
    parentFolderId: 'inbox-id',
    ...overrides,
  };
}

describe('emailFromGraph', () => {
  it('keeps the parties, dates and threading headers, and sanitises the HTML body', () => {
    const email = emailFromGraph(graphMessage(), []);
    expect(email.messageId).toBe('<figures-1@customer.test>');
    expect(email.subject).toBe('Quarterly figures');
    expect(email.from).toEqual([{ address: 'carol@customer.test', name: 'Carol Customer' }]);
    expect(email.to).toEqual([{ address: 'alice@example.test', name: 'Alice' }]);
    // A display name that only repeats the address says nothing.
    expect(email.cc).toEqual([{ address: 'bob@example.test' }]);
    expect(email.sentAt).toEqual(new Date('2026-11-30T10:00:00Z'));
    expect(email.inReplyTo).toBe('<question-1@example.test>');
    expect(email.references).toEqual(['<thread-0@example.test>', '<question-1@example.test>']);
    expect(email.bodyHtml).toBe('<p>Hello <b>Alice</b></p><img />');
    expect(email.bodyHtml).not.toMatch(/script|onclick|tracker/);
    expect(email.bodyText).toBe('Hello Alice');
    expect(receivedAtOf(graphMessage())).toEqual(new Date('2026-11-30T10:00:05Z'));
  });

  it('has no sent time when Graph gives none, and a text body as it came', () => {
    const email = emailFromGraph(graphMessage({ sentDateTime: null, body: { contentType: 'text', content: 'Line one\r\nLine two' }, internetMessageHeaders: null }), []);
    expect(email.sentAt).toBeNull();
    expect(email.bodyText).toBe('Line one\nLine two');
    expect(email.bodyHtml).toBeNull();
    expect(email.inReplyTo).toBeNull();
    expect(email.references).toEqual([]);
  });

  it('gives copies of one message (another folder, another Bcc, another arrival) one digest, and a changed message another', () => {
    const original = emailFromGraph(graphMessage(), []);
    const copy = emailFromGraph(
      graphMessage({
        id: 'AAkALgOther',
        parentFolderId: 'archive-id',
        receivedDateTime: '2026-11-30T11:00:00Z',
        bccRecipients: [{ emailAddress: { address: 'hidden@example.test' } }],
        internetMessageHeaders: [
          { name: 'Received', value: 'from elsewhere' },
          { name: 'In-Reply-To', value: '<question-1@example.test>' },
          { name: 'References', value: '<thread-0@example.test> <question-1@example.test>' },
        ],
      }),
      [],
    );
    expect(copy.contentDigest).toBe(original.contentDigest);
    expect(copy.messageId).toBe(original.messageId);
    const variant = emailFromGraph(graphMessage({ body: { contentType: 'html', content: '<p>Hello Alice, corrected</p>' } }), []);
    expect(variant.contentDigest).not.toBe(original.contentDigest);
  });

  it('names a message without Message-ID by its content, the same for each copy', () => {
    const a = emailFromGraph(graphMessage({ internetMessageId: null, parentFolderId: 'x' }), []);
    const b = emailFromGraph(graphMessage({ internetMessageId: null, parentFolderId: 'y' }), []);
    const other = emailFromGraph(graphMessage({ internetMessageId: null, subject: 'Something else' }), []);
    expect(a.messageId).toMatch(/^<[0-9a-f]{64}@no-id\.crm-sync\.invalid>$/);
    expect(b.messageId).toBe(a.messageId);
    expect(other.messageId).not.toBe(a.messageId);
  });

  it('keeps file attachments addressed by their content, inline pictures marked so', () => {
    const pdf = Buffer.from('%PDF-1.4 figures');
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
    const message = graphMessage({ hasAttachments: true, body: { contentType: 'html', content: '<p>See <img src="cid:chart@customer.test"></p>' } });
    const email = emailFromGraph(message, [
      { '@odata.type': '#microsoft.graph.fileAttachment', name: 'figures.pdf', contentType: 'application/pdf', size: pdf.length, isInline: false, contentBytes: pdf.toString('base64') },
      { '@odata.type': '#microsoft.graph.fileAttachment', name: 'chart.png', contentType: 'image/png', size: png.length, isInline: true, contentId: '<chart@customer.test>', contentBytes: png.toString('base64') },
      { '@odata.type': '#microsoft.graph.referenceAttachment', name: 'Shared link', contentType: null, size: 0, isInline: false },
    ]);
    expect(referencesInlineImages(message)).toBe(true);
    expect(email.attachments).toEqual([
      { filename: 'figures.pdf', contentType: 'application/pdf', size: pdf.length, sha256: createHash('sha256').update(pdf).digest('hex'), contentId: null, inline: false },
      { filename: 'chart.png', contentType: 'image/png', size: png.length, sha256: createHash('sha256').update(png).digest('hex'), contentId: 'chart@customer.test', inline: true },
    ]);
    expect(email.attachmentContent).toEqual([pdf, png]);
    expect(email.bodyHtml).toContain('src="cid:chart@customer.test"');
    expect(email.sizeBytes).toBe(Buffer.byteLength(message.body!.content!) + pdf.length + png.length);
  });
});
