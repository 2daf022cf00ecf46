import type { ImapFlow } from 'imapflow';
import { ImapSentFolder } from '../src/mail/imapSentFolder';
import type { SentCopy } from '../src/mail/mailSender';
import type { OutgoingEmail } from '../src/store/outgoingStore';
import { DovecotServer } from './support/dovecot';
import { CountingTcpProxy } from './support/tcpProxy';

// Sent copies go to Dovecot as one MULTIAPPEND per group; a group the server refuses is saved one by one.
const QUOTA = 5;
let dovecot: DovecotServer;
let proxy: CountingTcpProxy;
const from = { address: 'alice@example.test', name: 'Alice Example' };

beforeAll(async () => {
  dovecot = await DovecotServer.start({ name: 'sent-folder', quotaMessages: QUOTA });
  proxy = await CountingTcpProxy.start(dovecot.host, dovecot.imapPort);
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await dovecot?.destroy();
});

function email(n: number, date: Date): OutgoingEmail {
  return {
    id: `email-${n}`,
    messageId: `<copy-${n}-${date.getTime()}@example.test>`,
    date,
    interrupted: false,
    accepted: true,
    sendAttempts: 1,
    draftId: null,
    to: [{ address: 'bob@example.test', name: null }],
    cc: [],
    bcc: [],
    subject: `Copy ${n}`,
    bodyText: `Body ${n}`,
    bodyHtml: null,
    inReplyTo: null,
    references: [],
    attachments: [],
  };
}

async function openFor(user: string): Promise<ImapSentFolder> {
  await dovecot.addUser(user, 'secret');
  return ImapSentFolder.open({ host: proxy.host, port: proxy.port, security: 'none', username: user, password: 'secret', connectionTimeoutMs: 10_000 }, 'Sent');
}

async function sentFolder(user: string): Promise<{ messageId: string; flags: string[]; internalDate: Date }[]> {
  return dovecot.withImap(user, 'secret', async (client: ImapFlow) => {
    await client.mailboxOpen('Sent');
    const found = [];
    for await (const m of client.fetch('1:*', { envelope: true, flags: true, internalDate: true })) {
      found.push({ messageId: m.envelope!.messageId!, flags: [...(m.flags ?? [])], internalDate: new Date(m.internalDate!) });
    }
    return found;
  });
}

const appendCommands = () => proxy.commandLog.filter((line) => /^\S+ APPEND /i.test(line)).length;

describe('the Sent folder over IMAP', () => {
  it('saves a group of copies in one MULTIAPPEND, each seen, dated when it was sent, in order', async () => {
    const user = `group-${Date.now()}@example.test`;
    const folder = await openFor(user);
    const date = new Date('2026-03-05T08:09:10Z');
    const copies: SentCopy[] = [1, 2, 3, 4].map((n) => ({ email: email(n, new Date(date.getTime() + n * 1000)) }));
    const saved: number[] = [];
    proxy.resetCounters();
    try {
      await folder.save(copies, from, (count) => saved.push(count));
    } finally {
      await folder.close();
    }
    expect(appendCommands()).toBe(1);
    expect(saved).toEqual([4]);
    const stored = await sentFolder(user);
    expect(stored.map((m) => m.messageId)).toEqual(copies.map((c) => c.email.messageId));
    for (const [i, m] of stored.entries()) {
      expect(m.flags).toContain('\\Seen');
      expect(m.internalDate.toISOString()).toBe(copies[i].email.date.toISOString());
    }
  });

  it('saves a refused group one by one, so the refusal is the one message the server will not take', async () => {
    const user = `refused-${Date.now()}@example.test`;
    const folder = await openFor(user);
    const copies: SentCopy[] = Array.from({ length: QUOTA + 2 }, (_, i) => ({ email: email(i, new Date('2026-03-05T08:00:00Z')) }));
    const saved: number[] = [];
    proxy.resetCounters();
    let refusal: unknown;
    try {
      await folder.save(copies, from, (count) => saved.push(count)).catch((err: unknown) => {
        refusal = err;
      });
    } finally {
      await folder.close();
    }
    // The group past the quota is refused whole; then each is appended until the quota is reached.
    expect(appendCommands()).toBe(1 + QUOTA + 1);
    expect((refusal as { serverResponseCode?: string }).serverResponseCode).toBe('OVERQUOTA');
    expect(saved).toEqual([]);
    expect((await sentFolder(user)).map((m) => m.messageId)).toEqual(copies.slice(0, QUOTA).map((c) => c.email.messageId));
  });
});
