/**
 * Test & Enable connectivity checks: IMAP and POP3 against a real Dovecot, POP3 edge cases
 * against scripted servers, SMTP against the in-process SmtpSink.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createTransport } from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import getTLSOptions from 'smtp-server/lib/tls-options';
import { type DirectionResult, type OutgoingEndpoint, testImapIncoming, testPop3Incoming, testSmtpOutgoing } from '../src/mail/connectivity';
import type { MailServerEndpoint } from '../src/mail/mailSource';
import { DovecotServer, getFreePort } from './support/dovecot';
import { makeMessages } from './support/messages';
import { SmtpSink } from './support/smtpSink';
import { CountingTcpProxy } from './support/tcpProxy';

const AUTH_FAILED = /^Authentication failed: the mail server rejected the user name or password \(server said: .+\)$/;
const USER = 'tester@example.test';
const PASSWORD = 'S3cret-pa55word';

function expectResult(result: DirectionResult, status: DirectionResult['status'], message: RegExp | string): void {
  expect(result.status).toBe(status);
  if (typeof message === 'string') expect(result.message).toBe(message);
  else expect(result.message).toMatch(message);
  expect(new Date(result.testedAt).toISOString()).toBe(result.testedAt);
  expect(Math.abs(Date.now() - Date.parse(result.testedAt))).toBeLessThan(60_000);
}

/** A network failure's message: it names the server's address and says what the code means. */
const unreachable = (port: number, code: string) => new RegExp(`^Could not reach the mail server 127\\.0\\.0\\.1:${port} \\(${code}: [a-z][^()]+\\)$`);
/** A TLS failure's message, naming the server's address. */
const tlsFailed = (port: number, reason: string) =>
  `TLS connection to the mail server 127.0.0.1:${port} failed (${reason}): check the profile's security setting and the server certificate`;
const TLS_FAILED = /^TLS connection to the mail server 127\.0\.0\.1:\d+ failed \(/;
const UNVERIFIED_CERT = /^TLS connection to the mail server 127\.0\.0\.1:\d+ failed \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|CERT_HAS_EXPIRED)\)/;

// Time-outs are checked against their configured length, with room for a loaded machine; what they rule out is the OS default of minutes.
const SLACK_MS = 4000;

/** Runs `fn` and returns its result with how long it took. */
async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const start = performance.now();
  const result = await fn();
  return { result, ms: performance.now() - start };
}

describe('IMAP and POP3 against Dovecot', () => {
  let dovecot: DovecotServer;
  const proxies: CountingTcpProxy[] = [];
  const imap = (over: Partial<MailServerEndpoint> = {}): MailServerEndpoint => ({
    host: dovecot.host,
    port: dovecot.imapPort,
    security: 'none',
    username: USER,
    password: PASSWORD,
    connectionTimeoutMs: 5000,
    ...over,
  });
  const pop3 = (over: Partial<MailServerEndpoint> = {}) => imap({ port: dovecot.pop3Port, ...over });

  beforeAll(async () => {
    dovecot = await DovecotServer.start({ name: 'connectivity' });
    await dovecot.addUser(USER, PASSWORD);
    await dovecot.deliver(USER, makeMessages(2, { to: USER }));
  });

  afterAll(async () => {
    for (const p of proxies) await p.close();
    await dovecot?.destroy();
  });

  const blackhole = async () => {
    const proxy = await CountingTcpProxy.start(dovecot.host, dovecot.imapPort, { blackhole: true });
    proxies.push(proxy);
    return proxy;
  };

  describe('testImapIncoming', () => {
    it('logs in and opens every folder', async () => {
      const before = await dovecot.loginCount(USER, 'imap');
      const result = await testImapIncoming(imap(), ['INBOX', 'Sent', 'INBOX']);
      expectResult(result, 'success', `Logged in to ${dovecot.host}:${dovecot.imapPort} over IMAP and opened all 2 folders: "INBOX", "Sent"`);
      expect(await dovecot.loginCount(USER, 'imap')).toBe(before + 1);
    });

    it('logs in without folders', async () => {
      expectResult(await testImapIncoming(imap(), []), 'success', `Logged in to ${dovecot.host}:${dovecot.imapPort} over IMAP`);
    });

    it('reports a wrong password as an authentication failure, without the password', async () => {
      const result = await testImapIncoming(imap({ password: 'wrong-password' }), ['INBOX']);
      expectResult(result, 'failure', AUTH_FAILED);
      expect(result.message).not.toContain('wrong-password');
    });

    it('names a folder that does not exist', async () => {
      const result = await testImapIncoming(imap(), ['INBOX', 'Projects']);
      expectResult(result, 'failure', /^Folder "Projects" does not exist on the mail server \(server said: .+\)$/);
    });

    it('reports a port where nothing listens', async () => {
      const port = await getFreePort();
      expectResult(await testImapIncoming(imap({ port }), ['INBOX']), 'failure', unreachable(port, 'ECONNREFUSED'));
    });

    it('gives up on a server that never answers within the connection time-out', async () => {
      const proxy = await blackhole();
      const { result, ms } = await timed(() => testImapIncoming(imap({ port: proxy.port, connectionTimeoutMs: 1000 }), ['INBOX']));
      expectResult(result, 'failure', unreachable(proxy.port, 'GREETING_TIMEOUT'));
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(1000 + SLACK_MS);
      expect(proxy.totalConnections).toBe(1);
    });

    it('reports a plain-text server behind a TLS profile as a TLS failure', async () => {
      expectResult(await testImapIncoming(imap({ security: 'tls' }), ['INBOX']), 'failure', TLS_FAILED);
    });

    it('gives up on a server that greets but never answers a command', async () => {
      const server = net.createServer((sock) => {
        sock.on('error', () => undefined);
        sock.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as net.AddressInfo;
        const { result, ms } = await timed(() => testImapIncoming(imap({ port, connectionTimeoutMs: 1000 }), ['INBOX']));
        expectResult(result, 'failure', unreachable(port, 'ETIMEOUT'));
        expect(ms).toBeLessThan(1000 + SLACK_MS);
      } finally {
        server.close();
      }
    });

    it('fails when STARTTLS is required but the server does not offer it', async () => {
      expectResult(
        await testImapIncoming(imap({ security: 'starttls' }), ['INBOX']),
        'failure',
        tlsFailed(dovecot.imapPort, 'Server does not support STARTTLS'),
      );
    });
  });

  describe('testPop3Incoming', () => {
    it('logs in and reads the maildrop', async () => {
      const result = await testPop3Incoming(pop3());
      expectResult(result, 'success', /^Logged in to 127\.0\.0\.1:\d+ over POP3; the mailbox holds 2 messages \(\d+ bytes\)$/);
      expect(await dovecot.loginCount(USER, 'pop3')).toBeGreaterThanOrEqual(1);
    });

    it('reports a wrong password as an authentication failure, without the password', async () => {
      const result = await testPop3Incoming(pop3({ password: 'wrong-password' }));
      expectResult(result, 'failure', AUTH_FAILED);
      expect(result.message).not.toContain('wrong-password');
    });

    it('reports an unknown user as an authentication failure', async () => {
      expectResult(await testPop3Incoming(pop3({ username: 'nobody@example.test' })), 'failure', AUTH_FAILED);
    });

    it('reports a port where nothing listens', async () => {
      const port = await getFreePort();
      expectResult(await testPop3Incoming(pop3({ port })), 'failure', unreachable(port, 'ECONNREFUSED'));
    });

    it('gives up on a server that never answers within the connection time-out', async () => {
      const proxy = await blackhole();
      const { result, ms } = await timed(() => testPop3Incoming(pop3({ port: proxy.port, connectionTimeoutMs: 1000 })));
      expectResult(result, 'failure', unreachable(proxy.port, 'GREETING_TIMEOUT'));
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(1000 + SLACK_MS);
    });

    it('fails when STLS is required but the server refuses it', async () => {
      expectResult(
        await testPop3Incoming(pop3({ security: 'starttls' })),
        'failure',
        tlsFailed(dovecot.pop3Port, 'Server does not support STLS'),
      );
    });
  });
});

/**
 * A scripted POP3 server: `reply(line)` answers each client line (undefined: stay silent).
 * Records what clients sent.
 */
class ScriptedPop3 {
  readonly received: string[] = [];
  private readonly sockets = new Set<net.Socket>();
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(
    greeting: string | ((socket: net.Socket) => void) | undefined,
    reply: (line: string, socket: net.Socket) => string | undefined,
  ): Promise<ScriptedPop3> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address() as net.AddressInfo;
    const scripted = new ScriptedPop3(server, addr.port);
    server.on('connection', (sock) => {
      scripted.sockets.add(sock);
      sock.on('close', () => scripted.sockets.delete(sock));
      sock.on('error', () => undefined);
      if (typeof greeting === 'function') greeting(sock);
      else if (greeting !== undefined) sock.write(greeting);
      let buf = '';
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        let i: number;
        while ((i = buf.indexOf('\r\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 2);
          scripted.received.push(line);
          const answer = reply(line, sock);
          if (answer !== undefined && !sock.destroyed) sock.write(answer);
        }
      });
    });
    return scripted;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('testPop3Incoming against scripted servers', () => {
  const servers: ScriptedPop3[] = [];
  const start = async (greeting: Parameters<typeof ScriptedPop3.start>[0], reply: (line: string, socket: net.Socket) => string | undefined) => {
    const s = await ScriptedPop3.start(greeting, reply);
    servers.push(s);
    return s;
  };
  const endpoint = (port: number, over: Partial<MailServerEndpoint> = {}): MailServerEndpoint => ({
    host: '127.0.0.1',
    port,
    security: 'none',
    username: 'alice',
    password: PASSWORD,
    connectionTimeoutMs: 2000,
    ...over,
  });
  /** A polite server; `overrides` replaces answers by command verb. */
  const normal =
    (overrides: Record<string, string | undefined> = {}) =>
    (line: string): string | undefined => {
      const verb = line.split(' ')[0]!.toUpperCase();
      if (verb in overrides) return overrides[verb];
      if (verb === 'STAT') return '+OK 3 4567\r\n';
      if (verb === 'QUIT') return '+OK bye\r\n';
      return '+OK\r\n';
    };

  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  it('sends USER, PASS, STAT and QUIT in order and reads the message count', async () => {
    const s = await start('+OK POP3 ready\r\n', normal({ STAT: '+OK 1 99\r\n' }));
    expectResult(await testPop3Incoming(endpoint(s.port)), 'success', `Logged in to 127.0.0.1:${s.port} over POP3; the mailbox holds 1 message (99 bytes)`);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.received).toEqual(['USER alice', `PASS ${PASSWORD}`, 'STAT', 'QUIT']);
  });

  it('takes replies split across packets and bare LF line ends', async () => {
    const s = await start(
      (sock) => {
        sock.write('+OK hel');
        setTimeout(() => sock.write('lo\r\n'), 30);
      },
      (line, sock) => {
        if (line !== 'STAT') return normal()(line);
        sock.write('+OK 5 ');
        setTimeout(() => sock.write('100\n'), 30);
        return undefined;
      },
    );
    expectResult(await testPop3Incoming(endpoint(s.port)), 'success', /holds 5 messages \(100 bytes\)$/);
  });

  it('never puts the password in the message, even when the server echoes it', async () => {
    const s = await start('+OK\r\n', normal({ PASS: `-ERR [AUTH] no such password: ${PASSWORD}\r\n` }));
    const result = await testPop3Incoming(endpoint(s.port));
    expectResult(result, 'failure', 'Authentication failed: the mail server rejected the user name or password (server said: [AUTH] no such password: ***)');
    expect(result.message).not.toContain(PASSWORD);
  });

  it('reports a mailbox in use as busy, not as wrong credentials', async () => {
    const s = await start('+OK\r\n', normal({ PASS: '-ERR [IN-USE] Mailbox is locked by another POP3 session\r\n' }));
    expectResult(
      await testPop3Incoming(endpoint(s.port)),
      'failure',
      'The mail server is busy (INUSE) (server said: [IN-USE] Mailbox is locked by another POP3 session)',
    );
  });

  it('refuses to send a user name or password with a line break', async () => {
    const s = await start('+OK\r\n', normal());
    const result = await testPop3Incoming(endpoint(s.port, { password: `x\r\nDELE 1` }));
    expectResult(result, 'failure', 'The password contains a line break or NUL, which POP3 cannot send');
    await new Promise((r) => setTimeout(r, 50));
    expect(s.received).toEqual(['USER alice', 'QUIT']);
  });

  it('reports a server that closes the connection after the greeting', async () => {
    const s = await start('+OK\r\n', (_line, sock) => {
      sock.destroy();
      return undefined;
    });
    expectResult(await testPop3Incoming(endpoint(s.port)), 'failure', unreachable(s.port, 'EConnectionClosed'));
  });

  it('reports a greeting that is not +OK', async () => {
    const s = await start('-ERR [SYS/TEMP] too many connections\r\n', normal());
    expectResult(await testPop3Incoming(endpoint(s.port)), 'failure', 'The mail server is busy (UNAVAILABLE) (server said: [SYS/TEMP] too many connections)');
  });

  it('reports a reply that is neither +OK nor -ERR', async () => {
    const s = await start('* OK [CAPABILITY IMAP4rev1] this is IMAP\r\n', normal());
    expectResult(await testPop3Incoming(endpoint(s.port)), 'failure', /^Unexpected POP3 reply to greeting: \* OK/);
  });

  it('gives up on an endless line', async () => {
    const s = await start('+OK\r\n', (line, sock) => {
      if (line.startsWith('USER')) sock.write(Buffer.alloc(20_000, 0x41));
      return undefined;
    });
    expectResult(await testPop3Incoming(endpoint(s.port)), 'failure', 'The POP3 server sent a line longer than 8192 bytes');
  });

  it('bounds every command by the connection time-out (silent after PASS)', async () => {
    const s = await start('+OK\r\n', normal({ PASS: undefined }));
    const { result, ms } = await timed(() => testPop3Incoming(endpoint(s.port, { connectionTimeoutMs: 500 })));
    expectResult(result, 'failure', unreachable(s.port, 'ETIMEDOUT'));
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(500 + SLACK_MS);
  });

  it('refuses bytes injected before the STLS handshake', async () => {
    const s = await start('+OK\r\n', normal({ STLS: '+OK Begin TLS\r\n+OK injected\r\n' }));
    expectResult(await testPop3Incoming(endpoint(s.port, { security: 'starttls' })), 'failure', tlsFailed(s.port, 'STARTTLS_INJECTION'));
    expect(s.received).not.toContain('USER alice');
  });

  describe('with TLS (self-signed test certificate)', () => {
    const { key, cert } = getTLSOptions();
    /** Upgrades the plain socket after +OK to STLS; then answers like `normal()`. */
    const stlsServer = () =>
      start('+OK\r\n', (line, sock) => {
        if (line !== 'STLS') return normal()(line);
        sock.write('+OK Begin TLS\r\n', () => {
          sock.removeAllListeners('data');
          const secure = new tls.TLSSocket(sock, { isServer: true, key, cert });
          secure.on('error', () => undefined);
        });
        return undefined;
      });

    it('rejects a certificate it cannot verify after STLS', async () => {
      const s = await stlsServer();
      const result = await testPop3Incoming(endpoint(s.port, { security: 'starttls' }));
      expectResult(result, 'failure', UNVERIFIED_CERT);
      expect(s.received).toEqual(['STLS']);
    });

    it('rejects a certificate it cannot verify on implicit TLS', async () => {
      const server = tls.createServer({ key, cert }, (sock) => sock.write('+OK\r\n'));
      server.on('tlsClientError', () => undefined);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as net.AddressInfo;
        const result = await testPop3Incoming(endpoint(port, { security: 'tls' }));
        expectResult(result, 'failure', UNVERIFIED_CERT);
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

    it('reports a plain-text server behind a TLS profile as a TLS failure', async () => {
      const s = await start('+OK POP3 ready\r\n', normal());
      const result = await testPop3Incoming(endpoint(s.port, { security: 'tls', connectionTimeoutMs: 1000 }));
      expectResult(result, 'failure', TLS_FAILED);
    });
  });
});

describe('SMTP against SmtpSink', () => {
  let sink: SmtpSink;
  const smtp = (over: Partial<OutgoingEndpoint> = {}): OutgoingEndpoint => ({
    host: sink.host,
    port: sink.port,
    security: 'none',
    username: USER,
    password: PASSWORD,
    connectionTimeoutMs: 5000,
    ...over,
  });

  beforeAll(async () => {
    sink = await SmtpSink.start({ users: { [USER]: PASSWORD } });
  });

  afterAll(async () => {
    await sink?.close();
  });

  it('connects and authenticates', async () => {
    const before = sink.authFailures;
    expectResult(await testSmtpOutgoing(smtp()), 'success', `Connected to 127.0.0.1:${sink.port} and authenticated over SMTP`);
    expect(sink.authFailures).toBe(before);
  });

  it('reports a wrong password as an authentication failure, without the password', async () => {
    const before = sink.authFailures;
    const result = await testSmtpOutgoing(smtp({ password: 'wrong-password' }));
    expectResult(result, 'failure', AUTH_FAILED);
    expect(result.message).toContain('535');
    expect(result.message).not.toContain('wrong-password');
    expect(sink.authFailures).toBe(before + 1);
  });

  it('reports a port where nothing listens', async () => {
    const port = await getFreePort();
    expectResult(await testSmtpOutgoing(smtp({ port })), 'failure', unreachable(port, 'ECONNREFUSED'));
  });

  it('gives up on a server that never answers within the connection time-out', async () => {
    const proxy = await CountingTcpProxy.start(sink.host, sink.port, { blackhole: true });
    try {
      const { result, ms } = await timed(() => testSmtpOutgoing(smtp({ port: proxy.port, connectionTimeoutMs: 1000 })));
      expectResult(result, 'failure', unreachable(proxy.port, '(GREETING_TIMEOUT|CONNECT_TIMEOUT|ETIMEDOUT)'));
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(1000 + SLACK_MS);
    } finally {
      await proxy.close();
    }
  });

  it('gives up on a server that greets but never answers EHLO', async () => {
    const server = net.createServer((sock) => {
      sock.on('error', () => undefined);
      sock.write('220 mail.example.test ESMTP\r\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as net.AddressInfo;
      const { result, ms } = await timed(() => testSmtpOutgoing(smtp({ port, connectionTimeoutMs: 1000 })));
      expectResult(result, 'failure', unreachable(port, 'ETIMEDOUT'));
      expect(ms).toBeLessThan(1000 + SLACK_MS);
    } finally {
      server.close();
    }
  });

  it('reports a plain-text server behind a TLS profile as a TLS failure', async () => {
    expectResult(await testSmtpOutgoing(smtp({ security: 'tls' })), 'failure', TLS_FAILED);
  });

  it('rejects a server certificate it cannot verify', async () => {
    const server = new SMTPServer({ secure: true, logger: false, authOptional: true, closeTimeout: 200 });
    server.on('error', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const { port } = server.server.address() as net.AddressInfo;
      expectResult(
        await testSmtpOutgoing(smtp({ port, security: 'tls' })),
        'failure',
        UNVERIFIED_CERT,
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('fails when STARTTLS is required but the server does not offer it', async () => {
    expectResult(
      await testSmtpOutgoing(smtp({ security: 'starttls' })),
      'failure',
      tlsFailed(sink.port, 'Server does not support STARTTLS'),
    );
  });
});

describe('SmtpSink', () => {
  it('receives a message sent with nodemailer: envelope and raw contents', async () => {
    const sink = await SmtpSink.start({ users: { alice: 'pw-alice' } });
    try {
      const transport = createTransport({
        host: sink.host,
        port: sink.port,
        secure: false,
        ignoreTLS: true,
        auth: { user: 'alice', pass: 'pw-alice' },
      });
      const info = await transport.sendMail({
        from: 'Alice <alice@example.test>',
        to: ['bob@example.test', 'Carol <carol@example.test>'],
        subject: 'Quarterly numbers',
        text: 'Line one\n.starts with a dot\nLine three',
        headers: { 'X-Test-Id': 'sink-1' },
      });
      transport.close();
      expect(info.accepted).toEqual(['bob@example.test', 'carol@example.test']);
      expect(sink.messages).toHaveLength(1);
      const [msg] = sink.messages;
      expect(msg!.from).toBe('alice@example.test');
      expect(msg!.to).toEqual(['bob@example.test', 'carol@example.test']);
      const raw = msg!.raw.toString('utf8');
      expect(raw).toMatch(/^From: Alice <alice@example\.test>\r$/m);
      expect(raw).toMatch(/^Subject: Quarterly numbers\r$/m);
      expect(raw).toMatch(/^X-Test-Id: sink-1\r$/im);
      // Dot-stuffing undone: the line arrives as written.
      expect(raw).toContain('\r\n.starts with a dot\r\n');
      expect(sink.authFailures).toBe(0);
    } finally {
      await sink.close();
    }
  });

  it('refuses mail before AUTH and counts failed AUTH attempts', async () => {
    const sink = await SmtpSink.start({ users: { alice: 'pw-alice' } });
    try {
      const anonymous = createTransport({ host: sink.host, port: sink.port, secure: false, ignoreTLS: true });
      await expect(anonymous.sendMail({ from: 'x@example.test', to: 'y@example.test', text: 'hi' })).rejects.toMatchObject({ responseCode: 530 });
      const wrong = createTransport({ host: sink.host, port: sink.port, secure: false, ignoreTLS: true, auth: { user: 'alice', pass: 'nope' } });
      await expect(wrong.sendMail({ from: 'x@example.test', to: 'y@example.test', text: 'hi' })).rejects.toMatchObject({ code: 'EAUTH', responseCode: 535 });
      const login = createTransport({
        host: sink.host,
        port: sink.port,
        secure: false,
        ignoreTLS: true,
        auth: { user: 'alice', pass: 'nope-again', method: 'LOGIN' },
      });
      await expect(login.verify()).rejects.toMatchObject({ code: 'EAUTH', responseCode: 535 });
      expect(sink.authFailures).toBe(2);
      expect(sink.messages).toHaveLength(0);
    } finally {
      await sink.close();
    }
  });

  it('accepts mail without AUTH when requireAuth is false', async () => {
    const sink = await SmtpSink.start({ users: {}, requireAuth: false });
    try {
      const transport = createTransport({ host: sink.host, port: sink.port, secure: false, ignoreTLS: true });
      await transport.sendMail({ from: '', to: 'y@example.test', subject: 'bounce', text: 'hi' });
      const [msg] = await sink.waitForMessages(1);
      expect(msg).toMatchObject({ from: '', to: ['y@example.test'] });
    } finally {
      await sink.close();
    }
  });

  it('listens on a port of its own and stops listening when closed', async () => {
    const a = await SmtpSink.start({ users: {} });
    const b = await SmtpSink.start({ users: {} });
    expect(a.port).not.toBe(b.port);
    await a.close();
    await b.close();
    await b.close();
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: a.port });
      s.once('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });
});
