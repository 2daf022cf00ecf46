import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { ApiTokens } from '../src/admin/apiTokens';
import { buildApiServer } from '../src/api/server';
import { PgCrmRecords } from '../src/crm/crmRecords';
import type { EmailMessage } from '../src/domain/email';
import { parseMimeMessage } from '../src/mail/mimeParser';
import { dovecotProfile, eventually, useBedWithDovecot } from './support/testBed';

// What is stored is what was sent: the project's MIME fixtures go through a real Dovecot mailbox,
// the sync (Temporal workers, PostgreSQL) and the API, and come out exactly as the parser read them;
// copies, variants and messages without a Message-ID never merge wrongly; attachments are kept once
// per content, up to the configured size, and download byte for byte.

const FIXTURES = path.resolve(__dirname, 'fixtures', 'mime');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name));

const ctx = useBedWithDovecot();
let app: FastifyInstance;
let tokens: ApiTokens;
let adminToken: string;
let profileId: string;

beforeAll(async () => {
  tokens = new ApiTokens(ctx.bed.pool);
  app = await buildApiServer({ service: ctx.bed.admin, tokens, crm: new PgCrmRecords(ctx.bed.pool) });
  await app.ready();
  adminToken = (await tokens.create({ role: 'admin' })).token;
  profileId = (await ctx.bed.admin.createProfile(dovecotProfile('Fidelity Dovecot', ctx.dovecot))).id;
});

afterAll(async () => {
  await app?.close();
});

async function call(opts: InjectOptions & { token?: string }) {
  const { token, ...rest } = opts;
  return app.inject({ ...rest, headers: { authorization: `Bearer ${token ?? adminToken}` } });
}

async function api<T = any>(url: string, token?: string): Promise<T> {
  const res = await call({ method: 'GET', url, token });
  if (res.statusCode !== 200) throw new Error(`GET ${url}: expected 200, got ${res.statusCode}: ${res.body}`);
  return res.json() as T;
}

/** A Dovecot user with a CRM user owning its mailbox, and that user's API token. */
async function mailboxFor(address: string) {
  await ctx.dovecot.addUser(address, 'secret');
  const user = await ctx.bed.admin.createUser({ fullName: address, email: address });
  const mailbox = await ctx.bed.admin.createMailbox({ emailApproved: true, emailAddress: address, profileId, ownerUserId: user.id, password: 'secret' });
  const { token } = await tokens.create({ role: 'user', userId: user.id });
  return { address, mailboxId: mailbox.id, token };
}

/** APPENDs the messages (stored byte for byte, with these received times) and waits until the sync has linked them all. */
async function deliverAndSync(box: { address: string; mailboxId: string }, messages: { raw: Buffer; internalDate: Date }[]) {
  const [{ before }] = await ctx.bed.query<{ before: number }>(`SELECT count(*)::int AS before FROM item_links WHERE mailbox_id = $1`, [box.mailboxId]);
  await ctx.dovecot.append(box.address, 'secret', messages);
  await ctx.bed.admin.syncNow(box.mailboxId).catch(() => undefined);
  await eventually(`${messages.length} messages synced from ${box.address}`, async () => {
    const [{ n }] = await ctx.bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [box.mailboxId]);
    return n === before + messages.length;
  });
}

/** The activity a message became, by its identity and content digest. */
async function activityOf(m: EmailMessage): Promise<string> {
  const rows = await ctx.bed.query<{ id: string }>(`SELECT id FROM email_activities WHERE message_id = $1 AND content_digest = $2`, [
    m.messageId,
    m.contentDigest,
  ]);
  expect(rows).toHaveLength(1);
  return rows[0].id;
}

/** What GET /emails/:id must show of a message as the parser read it. */
function shown(m: EmailMessage, receivedAt: Date) {
  const seen = new Set<string>();
  const parties = (['from', 'to', 'cc', 'bcc'] as const).flatMap((role) =>
    m[role].flatMap((a) => {
      const key = `${role} ${a.address ?? `name ${a.name}`}`;
      if (seen.has(key)) return [];
      seen.add(key);
      return [{ role, address: a.address, displayName: a.name ?? null, partyType: null, partyId: null }];
    }),
  );
  return {
    messageId: m.messageId,
    subject: m.subject,
    sentAt: m.sentAt?.toISOString() ?? null,
    receivedAt: receivedAt.toISOString(),
    sizeBytes: m.sizeBytes,
    bodyText: m.bodyText,
    bodyHtml: m.bodyHtml,
    inReplyTo: m.inReplyTo,
    references: m.references,
    parties,
    attachments: m.attachments.map((a, i) => ({ position: i + 1, ...a, stored: true })),
  };
}

const at = (i: number) => new Date(Date.UTC(2026, 3, 1, 10, i));

describe('the fixtures, end to end', () => {
  const names = readdirSync(FIXTURES).filter((f) => f.endsWith('.eml')).sort();
  let box: Awaited<ReturnType<typeof mailboxFor>>;
  let parsed: Map<string, EmailMessage>;

  beforeAll(async () => {
    box = await mailboxFor('fidelity@example.test');
    parsed = new Map(await Promise.all(names.map(async (n) => [n, await parseMimeMessage(fixture(n))] as const)));
    await deliverAndSync(box, names.map((n, i) => ({ raw: fixture(n), internalDate: at(i) })));
  }, 120_000);

  it('stores each one as sent: subject, parties, dates, both bodies and attachments, every byte of them', async () => {
    expect(names).toHaveLength(17);
    for (const name of names) {
      // Copies of one message are one activity, as the first copy stored has it (the recipient's: it was delivered first).
      const first = name === 'copy-sender.eml' ? 'copy-recipient.eml' : name;
      const m = parsed.get(first)!;
      const id = await activityOf(parsed.get(name)!);
      const activity = await api(`/emails/${id}`);
      const expected = shown(m, at(names.indexOf(first)));
      expect({ name, ...pick(activity, Object.keys(expected)) }).toEqual({ name, ...expected });
      expect(await api(`/emails/${id}/attachments`)).toEqual(expected.attachments);
      for (const [j, content] of m.attachmentContent.entries()) {
        const res = await call({ method: 'GET', url: `/emails/${id}/attachments/${j + 1}` });
        expect({ name, j, status: res.statusCode }).toEqual({ name, j, status: 200 });
        expect(res.rawPayload.equals(content)).toBe(true);
      }
    }
  });

  it('keeps what each defect class was about, in the tables', async () => {
    const activity = async (name: string) => api(`/emails/${await activityOf(parsed.get(name)!)}`);

    // A From with a display name and no address is an unresolved party, not dropped.
    const nameOnly = await activity('from-name-only.eml');
    const [row] = await ctx.bed.query(`SELECT address, display_name, party_type, party_id FROM email_parties WHERE email_activity_id = $1 AND role = 'from'`, [
      nameOnly.id,
    ]);
    expect(row).toEqual({ address: null, display_name: 'Mary Smith', party_type: null, party_id: null });
    expect(nameOnly.parties).toEqual([
      { role: 'from', address: null, displayName: 'Mary Smith', partyType: null, partyId: null },
      { role: 'to', address: 'pete@silly.test', displayName: 'Pete', partyType: null, partyId: null },
    ]);

    // No date, or one that cannot be read: unknown, with the server's received time beside it.
    for (const name of ['date-missing.eml', 'date-unparsable.eml']) {
      const a = await activity(name);
      const [dates] = await ctx.bed.query(`SELECT sent_at, received_at FROM email_activities WHERE id = $1`, [a.id]);
      expect({ name, ...dates }).toEqual({ name, sent_at: null, received_at: at(names.indexOf(name)) });
      expect({ name, sentAt: a.sentAt, receivedAt: a.receivedAt }).toEqual({ name, sentAt: null, receivedAt: at(names.indexOf(name)).toISOString() });
    }
    expect((await activity('date-obsolete.eml')).sentAt).toBe('1997-11-21T14:55:06.000Z');

    // An HTML-only message keeps its HTML, sanitised, and a text body made from it.
    const html = await activity('html-only.eml');
    expect(html.bodyHtml).toContain('<h1 style="color:red">Spring offers</h1>');
    expect(html.bodyHtml).not.toMatch(/script|track\.example|onload|iframe/);
    expect(html.bodyText).toMatch(/^SPRING OFFERS\n\nDear customer/);

    // Charsets: 8-bit headers and UTF-7 decoded.
    expect((await activity('8bit-declared-latin1.eml')).subject).toBe('Frösche im Teich');
    expect((await activity('utf7.eml')).bodyText).toBe('Frösche im Teich & mehr <b>.\n');

    // A digest's parts are attached messages, not body text.
    const digest = await activity('digest.eml');
    expect(digest.bodyText).toBe("Today's topics:\n  1. Frogs\n  2. Ponds\n");
    expect(digest.attachments.map((a: any) => [a.filename, a.contentType])).toEqual([
      ['Frogs.eml', 'message/rfc822'],
      ['Ponds.eml', 'message/rfc822'],
    ]);
  });

  it('never merges two different messages: without a Message-ID, or reusing one', async () => {
    const a = await activityOf(parsed.get('no-message-id-a.eml')!);
    const b = await activityOf(parsed.get('no-message-id-b.eml')!);
    expect(a).not.toBe(b);
    const [{ n }] = await ctx.bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM email_activities WHERE subject = 'Disk full'`);
    expect(n).toBe(2);

    // The sender's and the recipient's copies of one message (trace fields, Bcc apart) are one activity;
    // a different message with its Message-ID is another, linked to it as a variant.
    const first = await activityOf(parsed.get('copy-sender.eml')!);
    expect(await activityOf(parsed.get('copy-recipient.eml')!)).toBe(first);
    const reused = await activityOf(parsed.get('reused-message-id.eml')!);
    expect(reused).not.toBe(first);
    const original = await api(`/emails/${first}`);
    const variant = await api(`/emails/${reused}`);
    expect({ variantOf: original.variantOf, variants: original.variants }).toEqual({ variantOf: null, variants: [reused] });
    expect({ variantOf: variant.variantOf, variants: variant.variants, subject: variant.subject }).toEqual({
      variantOf: first,
      variants: [first],
      subject: 'Contract, corrected',
    });
    const links = await ctx.bed.query(`SELECT crm_record_id FROM item_links WHERE mailbox_id = $1 AND crm_record_id = ANY($2) ORDER BY remote_id`, [
      box.mailboxId,
      [first, reused],
    ]);
    expect(links).toHaveLength(3);
  });

  it('keeps the same message delivered to two mailboxes one activity, linked to both', async () => {
    const other = await mailboxFor('fidelity-other@example.test');
    await deliverAndSync(other, [
      { raw: fixture('copy-recipient.eml'), internalDate: at(30) },
      { raw: fixture('no-message-id-a.eml'), internalDate: at(31) },
      { raw: fixture('alternative-related.eml'), internalDate: at(32) },
    ]);
    for (const name of ['copy-recipient.eml', 'no-message-id-a.eml', 'alternative-related.eml']) {
      const id = await activityOf(parsed.get(name)!);
      expect({ name, mailboxIds: (await api(`/emails/${id}`)).mailboxIds.sort() }).toEqual({ name, mailboxIds: [box.mailboxId, other.mailboxId].sort() });
    }
    const [{ n }] = await ctx.bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM email_activities WHERE subject = 'Disk full'`);
    expect(n).toBe(2);
    // Its attachments were stored with the first copy, once.
    const id = await activityOf(parsed.get('alternative-related.eml')!);
    const [{ rows }] = await ctx.bed.query<{ rows: number }>(`SELECT count(*)::int AS rows FROM email_attachments WHERE email_activity_id = $1`, [id]);
    expect(rows).toBe(2);
  });
});

describe('variants across mailboxes', () => {
  it('links two different messages with one Message-ID synced at the same time from two mailboxes', async () => {
    // One after the other: the Dovecot harness rewrites one passwd-file per user added.
    const a = await mailboxFor('variant-a@example.test');
    const b = await mailboxFor('variant-b@example.test');
    const message = (body: string) =>
      Buffer.from(`From: a@example.test\r\nSubject: Offer\r\nMessage-ID: <offer.7@example.test>\r\nDate: Wed, 1 Apr 2026 09:00:00 +0000\r\n\r\n${body}\r\n`);
    await Promise.all([
      deliverAndSync(a, [{ raw: message('10 units'), internalDate: at(70) }]),
      deliverAndSync(b, [{ raw: message('12 units'), internalDate: at(71) }]),
    ]);
    const rows = await ctx.bed.query<{ id: string; variant_of: string | null; body_text: string; mailbox_id: string }>(
      `SELECT e.id, e.variant_of, e.body_text, l.mailbox_id FROM email_activities e JOIN item_links l ON l.crm_record_id = e.id
        WHERE e.message_id = '<offer.7@example.test>' ORDER BY e.variant_of NULLS FIRST`,
    );
    expect(rows).toHaveLength(2);
    const [first, variant] = rows;
    expect(first.variant_of).toBeNull();
    expect(variant.variant_of).toBe(first.id);
    expect(new Set(rows.map((r) => `${r.mailbox_id} ${r.body_text}`))).toEqual(new Set([`${a.mailboxId} 10 units\n`, `${b.mailboxId} 12 units\n`]));
  });
});

describe('activities stored before content digests were kept', () => {
  it('take a later copy with their Message-ID as the same message', async () => {
    const box = await mailboxFor('legacy@example.test');
    const [{ id }] = await ctx.bed.query<{ id: string }>(
      `INSERT INTO email_activities (message_id, subject) VALUES ('<legacy.1@example.test>', 'Stored long ago') RETURNING id`,
    );
    const raw = Buffer.from('From: a@example.test\r\nSubject: Stored long ago\r\nMessage-ID: <legacy.1@example.test>\r\n\r\nBody\r\n');
    await deliverAndSync(box, [{ raw, internalDate: at(60) }]);
    expect(await ctx.bed.query(`SELECT id, content_digest FROM email_activities WHERE message_id = '<legacy.1@example.test>'`)).toEqual([
      { id, content_digest: null },
    ]);
    expect((await api(`/emails/${id}`)).mailboxIds).toEqual([box.mailboxId]);
  });
});

/** A message with the given attachments, base64 encoded. */
function withAttachments(subject: string, files: { filename: string; contentType: string; content: Buffer }[]): Buffer {
  const boundary = `b-${createHash('sha256').update(subject).digest('hex').slice(0, 12)}`;
  const parts = [
    `From: Sender <sender@files.example>\r\nTo: files@example.test\r\nSubject: ${subject}\r\nDate: Wed, 1 Apr 2026 10:00:00 +0000\r\n` +
      `Message-ID: <${boundary}@files.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n` +
      `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${subject}\r\n`,
    ...files.map(
      (f) =>
        `--${boundary}\r\nContent-Type: ${f.contentType}\r\nContent-Disposition: attachment; filename*=UTF-8''${encodeURIComponent(f.filename)}\r\n` +
        `Content-Transfer-Encoding: base64\r\n\r\n${f.content.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n`,
    ),
    `--${boundary}--\r\n`,
  ];
  return Buffer.from(parts.join(''));
}

describe('attachments', () => {
  // Every byte value, and enough of them to span several base64 lines.
  const binary = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7 + (i >> 8)) % 256));
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  afterEach(async () => {
    await ctx.bed.query(`UPDATE organization_settings SET max_attachment_bytes = DEFAULT`);
  });

  it('round-trip byte for byte through the API, are stored once per content, and only for their mailbox', async () => {
    const box = await mailboxFor('files@example.test');
    const stranger = await mailboxFor('stranger@example.test');
    const report = { filename: 'Bericht für Q1.bin', contentType: 'application/octet-stream', content: binary };
    await deliverAndSync(box, [
      { raw: withAttachments('First with the report', [report]), internalDate: at(40) },
      { raw: withAttachments('Second with the report', [{ ...report, filename: 'copy.bin' }]), internalDate: at(41) },
    ]);
    const activities = await ctx.bed.query<{ id: string }>(`SELECT id FROM email_activities WHERE subject LIKE '% with the report' ORDER BY subject`);
    expect(activities).toHaveLength(2);

    const res = await call({ method: 'GET', url: `/emails/${activities[0].id}/attachments/1`, token: box.token });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.equals(binary)).toBe(true);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="Bericht f_r Q1.bin"; filename*=UTF-8''Bericht%20f%C3%BCr%20Q1.bin`);
    expect(res.headers['x-content-type-options']).toBe('nosniff');

    // Two emails, one content.
    const contents = await ctx.bed.query(`SELECT size, length(content) AS length FROM attachment_contents WHERE sha256 = $1`, [sha(binary)]);
    expect(contents).toEqual([{ size: 4096, length: 4096 }]);
    const described = await ctx.bed.query(
      `SELECT filename, sha256, stored FROM email_attachments WHERE email_activity_id = ANY($1) ORDER BY filename`,
      [activities.map((a) => a.id)],
    );
    expect(described).toEqual([
      { filename: 'Bericht für Q1.bin', sha256: sha(binary), stored: true },
      { filename: 'copy.bin', sha256: sha(binary), stored: true },
    ]);

    // Another user's token sees neither the activity nor its attachments; an attachment that does not exist is a 404 saying so.
    for (const url of [`/emails/${activities[0].id}/attachments`, `/emails/${activities[0].id}/attachments/1`]) {
      const denied = await call({ method: 'GET', url, token: stranger.token });
      expect({ url, status: denied.statusCode, error: denied.json().error }).toEqual({ url, status: 403, error: 'forbidden' });
    }
    const missing = await call({ method: 'GET', url: `/emails/${activities[0].id}/attachments/2`, token: box.token });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().message).toMatch(/has no attachment 2: list them with GET \/emails\/.*\/attachments/);
  });

  it('describe one over the configured size limit without keeping it, and say so on download', async () => {
    await ctx.bed.query(`UPDATE organization_settings SET max_attachment_bytes = 1000`);
    const box = await mailboxFor('limits@example.test');
    const big = Buffer.alloc(3000, 'big.');
    const small = Buffer.from('small enough');
    await deliverAndSync(box, [
      {
        raw: withAttachments('Over the limit', [
          { filename: 'big.txt', contentType: 'text/plain', content: big },
          { filename: 'small.txt', contentType: 'text/plain', content: small },
        ]),
        internalDate: at(50),
      },
    ]);
    const [{ id }] = await ctx.bed.query<{ id: string }>(`SELECT id FROM email_activities WHERE subject = 'Over the limit'`);
    expect(await api(`/emails/${id}/attachments`, box.token)).toEqual([
      { position: 1, filename: 'big.txt', contentType: 'text/plain', size: 3000, sha256: sha(big), contentId: null, inline: false, stored: false },
      { position: 2, filename: 'small.txt', contentType: 'text/plain', size: small.length, sha256: sha(small), contentId: null, inline: false, stored: true },
    ]);
    expect(await ctx.bed.query(`SELECT sha256 FROM attachment_contents WHERE sha256 = $1`, [sha(big)])).toEqual([]);
    const refused = await call({ method: 'GET', url: `/emails/${id}/attachments/1`, token: box.token });
    expect(refused.statusCode).toBe(404);
    expect(refused.json()).toMatchObject({ error: 'not_found', message: expect.stringMatching(/3000 bytes.*over the size limit.*max_attachment_bytes, now 1000/) });
    const kept = await call({ method: 'GET', url: `/emails/${id}/attachments/2`, token: box.token });
    expect({ status: kept.statusCode, body: kept.body, type: kept.headers['content-type'] }).toEqual({ status: 200, body: 'small enough', type: 'text/plain' });
  });
});

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}
