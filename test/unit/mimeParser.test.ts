import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { EmailMessage } from '../../src/domain/email';
import { parseMimeMessage } from '../../src/mail/mimeParser';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'mime');

function fixture(name: string): Buffer {
  return readFileSync(path.join(FIXTURES, name));
}

/** What the CRM shows of a message, attachment contents as text (the fixtures' are all small). */
function shown(m: EmailMessage) {
  return {
    subject: m.subject,
    from: m.from,
    to: m.to,
    cc: m.cc,
    bcc: m.bcc,
    sentAt: m.sentAt?.toISOString() ?? null,
    bodyText: m.bodyText,
    bodyHtml: m.bodyHtml,
    attachments: m.attachments.map(({ sha256: _, ...a }, i) => ({ ...a, content: m.attachmentContent[i].toString('latin1') })),
  };
}

async function parsed(name: string) {
  return shown(await parseMimeMessage(fixture(name)));
}

const plain = (bodyText: string) => ({ bodyText, bodyHtml: null, attachments: [] });

describe('bodies', () => {
  it('keeps an HTML-only body sanitised for display and derives the text body from it', async () => {
    expect(await parsed('html-only.eml')).toEqual({
      subject: 'Spring offers',
      from: [{ address: 'news@shop.example', name: 'Newsletter' }],
      to: [{ address: 'alice@example.test' }],
      cc: [],
      bcc: [],
      sentAt: '2026-03-02T08:15:00.000Z',
      // No script, style sheet, event handler, form or frame; no image from elsewhere (https, protocol-relative,
      // CSS url(), image-set(), escapes); the message's own images (cid:, data: PNG) stay, a data: SVG does not.
      bodyHtml: [
        '<h1 style="color:red">Spring offers</h1>',
        '<p>Dear customer, see <a href="https://shop.example/offers">our offers</a>.</p>',
        '<p><img width="1" height="1" alt="" />',
        '<img alt="Logo" src="cid:logo@shop.example" />',
        '<img alt="dot" src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAA=" />',
        '<img alt="svg" />',
        '<img alt="rel" /></p>',
        '',
        '',
        '<div style="color:blue">Grüße</div>',
      ].join('\n'),
      bodyText: 'SPRING OFFERS\n\nDear customer, see our offers [https://shop.example/offers].\n\n\n\nGrüße',
      attachments: [],
    });
  });

  it('takes both versions of an alternative as the bodies, and the related image and the file as attachments', async () => {
    const gif = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64').toString('latin1');
    expect(await parsed('alternative-related.eml')).toEqual({
      subject: 'Quarterly figures',
      from: [{ address: 'john.doe@contoso.example', name: 'Doe, John' }],
      to: [{ address: 'alice@example.test', name: 'Alice' }, { address: 'bob@example.test' }],
      cc: [{ address: 'carol@example.test', name: 'Carol' }],
      bcc: [],
      sentAt: '2026-03-03T22:45:10.000Z',
      bodyText: 'Hi Alice,\nthe figures are attached.\n',
      bodyHtml: '<p>Hi Alice,<br />the figures are attached.</p><img src="cid:chart@contoso.example" />',
      attachments: [
        { filename: 'chart.gif', contentType: 'image/gif', size: 43, contentId: 'chart@contoso.example', inline: true, content: gif },
        { filename: 'figures.pdf', contentType: 'application/pdf', size: 16, contentId: null, inline: false, content: '%PDF-1.4\n% test\n' },
      ],
    });
  });

  it('gives each attachment the SHA-256 of its content, the key of content-addressed storage', async () => {
    const m = await parseMimeMessage(fixture('alternative-related.eml'));
    expect(m.attachments.map((a) => a.sha256)).toEqual(m.attachmentContent.map((c) => createHash('sha256').update(c).digest('hex')));
    // The descriptions stay plain data: the stored JSON carries no content.
    expect(JSON.stringify(m.attachments)).not.toContain('PDF');
  });
});

describe('dates', () => {
  const headers = (sentAt: string | null, subject: string) => ({
    subject,
    from: [{ address: 'a@example.test' }],
    to: [{ address: 'b@example.test' }],
    cc: [],
    bcc: [],
    sentAt,
    ...plain('Body.\n'),
  });

  it('leaves the date unknown when the message has no Date', async () => {
    expect(await parsed('date-missing.eml')).toEqual(headers(null, 'No date'));
  });

  it('leaves the date unknown when the Date cannot be read, instead of inventing one', async () => {
    expect(await parsed('date-unparsable.eml')).toEqual(headers(null, 'Unreadable date'));
  });

  it("reads RFC 5322's obsolete forms: two-digit year, comments and spaces inside the time, a named zone", async () => {
    expect(await parsed('date-obsolete.eml')).toEqual(headers('1997-11-21T14:55:06.000Z', 'Obsolete date'));
  });
});

describe('charsets', () => {
  it('decodes raw 8-bit header bytes by the charset the Content-Type declares', async () => {
    expect(await parsed('8bit-declared-latin1.eml')).toEqual({
      subject: 'Frösche im Teich',
      from: [{ address: 'juergen@teich.example', name: 'Jürgen Müller' }],
      to: [{ address: 'info@froesche.example', name: 'Frösche & Co' }],
      cc: [],
      bcc: [],
      sentAt: '2026-03-04T07:00:00.000Z',
      ...plain('Grüße aus dem Garten.\n'),
    });
  });

  it('detects the charset of raw 8-bit header bytes when the message declares none', async () => {
    expect(await parsed('8bit-detected-cp1251.eml')).toEqual({
      subject: 'Привет! Встреча завтра в офисе в десять часов',
      from: [{ address: 'ivan@example.ru', name: 'Иван Петров' }],
      to: [{ address: 'alice@example.test' }],
      cc: [],
      bcc: [],
      sentAt: '2026-03-05T07:00:00.000Z',
      ...plain('See you tomorrow.\n'),
    });
  });

  it('reads raw 8-bit header bytes as Latin-1 when neither a declaration nor detection names a charset', async () => {
    expect(await parsed('8bit-fallback-latin1.eml')).toEqual({
      subject: 'Café',
      from: [{ address: 'a@example.test' }],
      to: [{ address: 'b@example.test' }],
      cc: [],
      bcc: [],
      sentAt: '2026-03-05T11:00:00.000Z',
      ...plain('Body.\n'),
    });
  });

  it('reads 8-bit body bytes under a US-ASCII or unknown declaration as undeclared, not as broken UTF-8', async () => {
    const body = (charset: string) =>
      Buffer.concat([Buffer.from(`Subject: Body\r\nContent-Type: text/plain; charset=${charset}\r\n\r\n`), Buffer.from('Grüße aus Köln und München, Jürgen', 'latin1')]);
    const [ascii, unknown] = await Promise.all([parseMimeMessage(body('us-ascii')), parseMimeMessage(body('unknown-8bit'))]);
    expect([ascii.bodyText, unknown.bodyText]).toEqual(['Grüße aus Köln und München, Jürgen', 'Grüße aus Köln und München, Jürgen']);
  });

  it('decodes UTF-7 bodies and encoded-words (Q, B, and the unicode-1-1-utf-7 alias)', async () => {
    expect(await parsed('utf7.eml')).toEqual({
      subject: 'Frösche im Teich und mehr',
      from: [{ address: 'juergen@teich.example', name: 'Jürgen' }],
      to: [{ address: 'alice@example.test' }],
      cc: [],
      bcc: [],
      sentAt: '2026-03-06T11:00:00.000Z',
      ...plain('Frösche im Teich & mehr <b>.\n'),
    });
  });
});

describe('structure', () => {
  it('makes the parts of a multipart/digest attached messages, not body text (RFC 2046 §5.1.5)', async () => {
    expect(await parsed('digest.eml')).toEqual({
      subject: 'Gardening digest, Vol 1, Issue 2',
      from: [{ address: 'list-owner@lists.example' }],
      to: [{ address: 'list@lists.example' }],
      cc: [],
      bcc: [],
      sentAt: '2026-03-09T06:00:00.000Z',
      bodyText: "Today's topics:\n  1. Frogs\n  2. Ponds\n",
      bodyHtml: null,
      attachments: [
        {
          filename: 'Frogs.eml',
          contentType: 'message/rfc822',
          size: 116,
          contentId: null,
          inline: true,
          content: 'From: Ann <ann@garden.example>\r\nSubject: Frogs\r\nDate: Sun, 8 Mar 2026 10:00:00 +0000\r\n\r\nAre frogs good for a pond?\r\n',
        },
        {
          filename: 'Ponds.eml',
          contentType: 'message/rfc822',
          size: 119,
          contentId: null,
          inline: true,
          content: 'From: Ben <ben@garden.example>\r\nSubject: Ponds\r\nDate: Sun, 8 Mar 2026 11:00:00 +0000\r\n\r\nYes, they eat the mosquitoes.\r\n',
        },
      ],
    });
  });

  it('makes an inline attached message and an inline text part after the body attachments', async () => {
    expect(await parsed('attached-message.eml')).toEqual({
      subject: 'Fwd: Offer',
      from: [{ address: 'bob@example.test', name: 'Bob' }],
      to: [{ address: 'alice@example.test' }],
      cc: [],
      bcc: [],
      sentAt: '2026-03-10T08:30:00.000Z',
      bodyText: 'See the offer below.',
      bodyHtml: null,
      attachments: [
        {
          filename: 'Offer.eml',
          contentType: 'message/rfc822',
          size: 134,
          contentId: null,
          inline: true,
          content: 'From: Sales <sales@vendor.example>\r\nTo: bob@example.test\r\nSubject: Offer\r\nDate: Mon, 9 Mar 2026 16:00:00 +0100\r\n\r\nOur offer: 10 units.',
        },
        {
          filename: 'stamp.png',
          contentType: 'image/png',
          size: 8,
          contentId: null,
          inline: true,
          content: Buffer.from('iVBORw0KGgo=', 'base64').toString('latin1'),
        },
        { filename: null, contentType: 'text/plain', size: 18, contentId: null, inline: true, content: 'Sent from my phone' },
      ],
    });
  });

  it('keeps a sender named without an address as a party without one; comments are no part of an address', async () => {
    expect(await parsed('from-name-only.eml')).toEqual({
      subject: 'Name only',
      from: [{ address: null, name: 'Mary Smith' }],
      to: [{ address: 'pete@silly.test', name: 'Pete' }],
      // An empty group is nobody.
      cc: [],
      bcc: [],
      sentAt: '2026-03-11T13:00:00.000Z',
      ...plain('Body.\n'),
    });
  });
});

describe('identity', () => {
  it('gives two different messages without a Message-ID two ids, and the same bytes twice one', async () => {
    const [a, b, again] = await Promise.all([
      parseMimeMessage(fixture('no-message-id-a.eml')),
      parseMimeMessage(fixture('no-message-id-b.eml')),
      parseMimeMessage(fixture('no-message-id-a.eml')),
    ]);
    const digest = createHash('sha256').update(fixture('no-message-id-a.eml')).digest('hex');
    expect(a.messageId).toBe(`<${digest}@no-id.crm-sync.invalid>`);
    expect(b.messageId).not.toBe(a.messageId);
    expect(again.messageId).toBe(a.messageId);
  });

  it('gives copies of one message one content digest, whatever their trace fields and Bcc, and a reused Message-ID another', async () => {
    const [sent, received, reused] = await Promise.all(
      ['copy-sender.eml', 'copy-recipient.eml', 'reused-message-id.eml'].map((f) => parseMimeMessage(fixture(f))),
    );
    expect(new Set([sent.messageId, received.messageId, reused.messageId])).toEqual(new Set(['<contract.1@example.test>']));
    expect(received.contentDigest).toBe(sent.contentDigest);
    expect(reused.contentDigest).not.toBe(sent.contentDigest);
    // Line endings as a store keeps them on disk are no difference either.
    const lf = await parseMimeMessage(Buffer.from(fixture('copy-recipient.eml').toString('latin1').replace(/\r\n/g, '\n'), 'latin1'));
    expect(lf.contentDigest).toBe(sent.contentDigest);
  });

  it('replaces an over-long Message-ID by its digest', async () => {
    const id = `<${'x'.repeat(600)}@example.test>`;
    const m = await parseMimeMessage(Buffer.from(`Message-ID: ${id}\r\nSubject: Long\r\n\r\nBody\r\n`));
    expect(m.messageId).toBe(`<${createHash('sha256').update(id).digest('hex')}@long-id.crm-sync.invalid>`);
  });
});

describe('hostile input', () => {
  it('cleans NUL and lone surrogates out of what is stored and cuts a huge body', async () => {
    const raw = Buffer.concat([
      Buffer.from('From: a@example.test\r\nSubject: =?utf-8?B?' + Buffer.from('a\u0000b').toString('base64') + '?=\r\n'),
      Buffer.from('Content-Type: text/plain; charset=utf-16le\r\n\r\n'),
      Buffer.from([0x00, 0xd8, 0x41, 0x00]),
      Buffer.from('x'.repeat(2_100_000), 'utf16le'),
    ]);
    const m = await parseMimeMessage(raw);
    expect(m.subject).toBe('ab');
    expect(m.bodyText!.startsWith('\uFFFDA')).toBe(true);
    expect(m.bodyText!.length).toBe(1_000_000);
  });

  it('reads pathological whitespace in one pass (no pattern backtracking over it)', async () => {
    const blanks = ' \t'.repeat(250_000);
    const raw = Buffer.from(`From: a@example.test\r\nDate: ${blanks}\r\nSubject: ${blanks}x\r\n\r\nbody${blanks}\r\n${'\r\n'.repeat(250_000)}`);
    const m = await parseMimeMessage(raw);
    expect({ subject: m.subject, sentAt: m.sentAt, bodyLength: m.bodyText!.length }).toEqual({
      subject: 'x',
      sentAt: null,
      bodyLength: 4 + blanks.length + 1 + 250_000,
    });
  });

  it('keeps nesting deeper than 50 levels as one opaque part instead of recursing', async () => {
    const depth = 5000;
    const open = Array.from({ length: depth }, (_, i) => `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n`).join('');
    const m = await parseMimeMessage(Buffer.from(`From: a@example.test\r\n${open}Content-Type: text/plain\r\n\r\ndeep\r\n`));
    expect(m.bodyText).toBeNull();
    expect(m.attachments).toHaveLength(1);
    expect(m.attachments[0].contentType).toBe('multipart/mixed');
  });
});
