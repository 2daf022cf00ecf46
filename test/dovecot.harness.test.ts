/**
 * Self-test of the Dovecot test harness (test/support/dovecot.ts) and the counting TCP proxy
 * (test/support/tcpProxy.ts). Needs Dovecot 2.3 installed (runs it as root on loopback).
 */
import * as net from 'node:net';
import { ImapFlow } from 'imapflow';
import { DovecotServer, lmtpDataPayload } from './support/dovecot';
import { CountingTcpProxy } from './support/tcpProxy';

jest.setTimeout(30_000);

const USER = 'alice@example.test';
const PASS = 'pa:ss wörd';

function message(n: number, extra = ''): string {
  return [
    `From: Sender ${n} <sender${n}@example.test>`,
    `To: ${USER}`,
    `Subject: harness message ${n}`,
    `Message-ID: <harness-${n}@example.test>`,
    'Date: Mon, 02 Jun 2025 10:00:00 +0000',
    '',
    `Body of message ${n}.`,
    extra,
  ].join('\n');
}

function client(port: number, pass = PASS, extra: Partial<ConstructorParameters<typeof ImapFlow>[0]> = {}): ImapFlow {
  const c = new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    auth: { user: USER, pass },
    logger: false,
    disableAutoIdle: true,
    connectionTimeout: 3000,
    greetingTimeout: 3000,
    ...extra,
  });
  c.on('error', () => undefined);
  return c;
}

async function inboxState(port: number): Promise<{ exists: number; uidValidity: bigint; subjects: string[] }> {
  const c = client(port);
  await c.connect();
  try {
    const mb = await c.mailboxOpen('INBOX');
    const subjects: string[] = [];
    if (mb.exists > 0) {
      for await (const m of c.fetch('1:*', { envelope: true })) subjects.push(m.envelope?.subject ?? '');
    }
    return { exists: mb.exists, uidValidity: mb.uidValidity, subjects };
  } finally {
    await c.logout().catch(() => c.close());
  }
}

/** Minimal raw IMAP conversation: sends each chunk after the previous tagged reply. */
async function rawImap(port: number, steps: { tag: string; data: Buffer | string }[]): Promise<string> {
  const sock = net.connect({ host: '127.0.0.1', port });
  let buf = '';
  const waitFor = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout waiting for ${re}; got ${buf}`)), 5000);
      const check = () => {
        if (re.test(buf)) {
          clearTimeout(timer);
          sock.off('data', onData);
          resolve();
        }
      };
      const onData = (d: Buffer) => {
        buf += d.toString('latin1');
        check();
      };
      sock.on('data', onData);
      check();
    });
  try {
    await waitFor(/^\* OK/);
    for (const step of steps) {
      sock.write(step.data);
      await waitFor(new RegExp(`(^|\\r\\n)${step.tag} (OK|NO|BAD)`));
      if (!new RegExp(`(^|\\r\\n)${step.tag} OK`).test(buf)) throw new Error(`${step.tag} failed: ${buf}`);
    }
    return buf;
  } finally {
    sock.destroy();
  }
}

async function waitUntil(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Dovecot test harness', () => {
  let server: DovecotServer;
  let uidValidityAfterReset: bigint;

  beforeAll(async () => {
    server = await DovecotServer.start({ name: 'harness' });
  });

  afterAll(async () => {
    await server?.destroy();
  });

  test('lmtpDataPayload normalises line ends and dot-stuffs raw bytes', () => {
    const raw = Buffer.from('A: b\n\n.x\r\n.\nbin \xff\x80\r\nend', 'latin1');
    expect(lmtpDataPayload(raw).toString('latin1')).toBe('A: b\r\n\r\n..x\r\n..\r\nbin \xff\x80\r\nend\r\n.\r\n');
    expect(lmtpDataPayload('.\r\n').toString('latin1')).toBe('..\r\n.\r\n');
  });

  test('starts, adds a user, delivers 3 via LMTP and 2 via APPEND', async () => {
    expect(server.host).toBe('127.0.0.1');
    expect(new Set([server.imapPort, server.pop3Port, server.lmtpPort]).size).toBe(3);
    await server.addUser(USER, PASS);

    const before = await server.loginCount(USER);
    await server.deliver(USER, [
      message(1),
      // dot-stuffing: a line that is a lone dot, and one starting with a dot
      message(2, '.\n.leading dot\n'),
      // 8-bit bytes, CRLF already
      Buffer.concat([Buffer.from(message(3).replace(/\n/g, '\r\n'), 'utf8'), Buffer.from([0xe9, 0xff, 0x0d, 0x0a])]),
    ]);
    const appended = await server.append(USER, PASS, [message(4), Buffer.from(message(5))]);
    expect(appended).toHaveLength(2);
    expect(appended[1]!.uid).toBeGreaterThan(appended[0]!.uid!);

    const state = await inboxState(server.imapPort);
    expect(state.exists).toBe(5);
    expect(state.subjects).toEqual([1, 2, 3, 4, 5].map((n) => `harness message ${n}`));

    // message 2 came back with its dot lines intact (dot-stuffing undone by the server)
    const c = client(server.imapPort);
    await c.connect();
    await c.mailboxOpen('INBOX');
    const m2 = await c.fetchOne('2', { source: true });
    await c.logout();
    expect(m2 && m2.source?.toString('latin1')).toContain('\r\n.\r\n.leading dot\r\n');

    expect(await server.loginCount(USER)).toBeGreaterThanOrEqual(before + 3);
    expect(await server.loginCount('nobody@example.test')).toBe(0);
  });

  test('failed logins are answered at once and counted; setPassword takes effect immediately', async () => {
    const failedBefore = await server.failedLoginCount(USER);
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      await expect(client(server.imapPort, 'wrong').connect()).rejects.toThrow();
      // No auth_failure_delay (Dovecot's default is 2 s) and no anvil penalty.
      expect(Date.now() - t0).toBeLessThan(1900);
    }
    expect(await server.failedLoginCount(USER)).toBe(failedBefore + 3);

    await server.setPassword(USER, 'temporary');
    await expect(client(server.imapPort).connect()).rejects.toThrow();
    const c = client(server.imapPort, 'temporary');
    await c.connect();
    await c.logout();
    await server.setPassword(USER, PASS);
  });

  test('resetInboxUidValidity changes UIDVALIDITY and keeps the messages', async () => {
    const before = await inboxState(server.imapPort);
    const newValue = await server.resetInboxUidValidity(USER);
    const after = await inboxState(server.imapPort);
    expect(after.uidValidity).not.toBe(before.uidValidity);
    expect(after.uidValidity).toBe(BigInt(newValue));
    expect(after.exists).toBe(5);
    expect(after.subjects).toEqual(before.subjects);
    uidValidityAfterReset = after.uidValidity;
  });

  test('recreateFolder gives a folder a new UIDVALIDITY and empties it', async () => {
    await server.append(USER, PASS, [message(6)], 'Archive');
    const c = client(server.imapPort);
    await c.connect();
    const before = await c.status('Archive', { uidValidity: true, messages: true });
    await c.logout();
    await server.recreateFolder(USER, PASS, 'Archive');
    const c2 = client(server.imapPort);
    await c2.connect();
    const after = await c2.status('Archive', { uidValidity: true, messages: true });
    await c2.logout();
    if (!before || !after) throw new Error('STATUS failed');
    expect(before.messages).toBe(1);
    expect(after.messages).toBe(0);
    expect(after.uidValidity).not.toBe(before.uidValidity);
  });

  test('stop makes connections fail, restart brings the same mail back', async () => {
    const loginsBefore = await server.loginCount(USER);
    await server.stop();
    expect(server.isRunning).toBe(false);
    await expect(client(server.imapPort).connect()).rejects.toThrow();

    await server.restart();
    const state = await inboxState(server.imapPort);
    expect(state.exists).toBe(5);
    expect(state.uidValidity).toBe(uidValidityAfterReset);
    expect(await server.loginCount(USER)).toBe(loginsBefore + 1);

    // hard kill + restart is fast and keeps the mail too
    await server.kill();
    await expect(client(server.imapPort).connect()).rejects.toThrow();
    await server.restart();
    expect((await inboxState(server.imapPort)).exists).toBe(5);
  });

  test('CountingTcpProxy counts connections and IMAP commands', async () => {
    const proxy = await CountingTcpProxy.start(server.host, server.imapPort);
    try {
      // exact command count over a raw session, with a literal whose lines look like commands
      const literal = 'Subject: x\r\n\r\nx1 SELECT INBOX\r\nA2 LOGOUT\r\n';
      await rawImap(proxy.port, [
        { tag: 'a1', data: 'a1 CAPABILITY\r\n' },
        { tag: 'a2', data: `a2 LOGIN {${USER.length}+}\r\n${USER} {${Buffer.byteLength(PASS)}+}\r\n${PASS}\r\n` },
        { tag: 'a3', data: `a3 APPEND Archive {${Buffer.byteLength(literal)}+}\r\n${literal}\r\n` },
        { tag: 'a4', data: 'a4 NOOP\r\n' },
        { tag: 'a5', data: 'a5 LOGOUT\r\n' },
      ]);
      await waitUntil(() => proxy.openConnections === 0);
      expect(proxy.totalConnections).toBe(1);
      expect(proxy.clientCommands).toBe(5);
      expect(proxy.maxConcurrent).toBe(1);

      // concurrency
      proxy.resetCounters();
      expect(proxy.totalConnections).toBe(0);
      expect(proxy.clientCommands).toBe(0);
      const clients = Array.from({ length: 5 }, () => client(proxy.port));
      await Promise.all(clients.map((c) => c.connect()));
      expect(proxy.openConnections).toBe(5);
      await new Promise((r) => setTimeout(r, 100));
      await Promise.all(clients.map((c) => c.logout()));
      await waitUntil(() => proxy.openConnections === 0);
      expect(proxy.totalConnections).toBe(5);
      expect(proxy.maxConcurrent).toBe(5);
      expect(proxy.clientCommands).toBeGreaterThanOrEqual(10); // at least login + logout each
      const mean = proxy.meanConcurrent();
      expect(mean).toBeGreaterThan(0);
      expect(mean).toBeLessThanOrEqual(5);

      // a proxied connection to a stopped server fails
      await server.kill();
      await expect(client(proxy.port).connect()).rejects.toThrow();
      await server.restart();
      const c = client(proxy.port);
      await c.connect();
      await c.logout();
    } finally {
      await proxy.close();
    }
  });

  test('CountingTcpProxy blackhole accepts connections and never answers', async () => {
    const proxy = await CountingTcpProxy.start(server.host, server.imapPort, { blackhole: true });
    try {
      const loginsBefore = await server.loginCount();
      const t0 = Date.now();
      await expect(client(proxy.port, PASS, { greetingTimeout: 500 }).connect()).rejects.toThrow();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
      expect(proxy.totalConnections).toBe(1);
      expect(await server.loginCount()).toBe(loginsBefore);
    } finally {
      await proxy.close();
    }
    expect(proxy.openConnections).toBe(0);
  });
});
