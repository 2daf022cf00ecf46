/**
 * The product's POP3 client (RFC 1939, STLS from RFC 2595, response codes from RFC 2449/3206),
 * for incoming sync and Test & Enable alike. Written here rather than taken from npm: the
 * maintained package (node-pop3) has no STLS, decodes messages to strings (8-bit bodies are
 * damaged), keeps dot-stuffing, and finds a reply's end only when it ends a socket read.
 *
 * Messages are read as bytes, dot-unstuffed. Commands run one at a time in call order, so a
 * DELE issued while a RETR is being read waits its turn. Every wait on the server is bounded
 * by the endpoint's connection time-out, counted from the last byte received.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { MailServerEndpoint } from '../mailSource';

const MAX_LINE = 8192;
// Ends a multi-line reply: the CRLF of its last line, a lone dot, CRLF.
const TERMINATOR = Buffer.from('\r\n.\r\n');

export type Pop3Error = Error & Record<string, unknown>;

function pop3Error(message: string, facts: Record<string, unknown>): Pop3Error {
  return Object.assign(new Error(message), facts);
}

/** RFC 2449 / 3206 response codes that mean "not now" rather than "wrong credentials". */
const BUSY: Record<string, string> = { 'IN-USE': 'INUSE', 'LOGIN-DELAY': 'UNAVAILABLE', 'SYS/TEMP': 'UNAVAILABLE' };

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** A multi-line reply being received: its bytes so far and the last few, to find a terminator split across reads. */
interface OpenBlock {
  parts: Buffer[];
  length: number;
  tail: Buffer;
  done?: Buffer;
}

export class Pop3Client {
  private socket: net.Socket;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private block: OpenBlock | undefined;
  private lastData = Date.now();
  private failed: Error | undefined;
  private wake: (() => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly onData = (d: Buffer) => this.receive(d);
  private readonly onError = (e: Error) => this.fail(e);
  private readonly onClose = () => this.fail(pop3Error('The POP3 server closed the connection', { code: 'EConnectionClosed' }));

  private constructor(
    socket: net.Socket,
    private readonly timeoutMs: number,
  ) {
    this.socket = socket;
    this.attach(socket);
  }

  /** Opens TCP (or TLS), reads the greeting and, for a `starttls` endpoint, upgrades with STLS. Not logged in yet. */
  static async open(endpoint: MailServerEndpoint): Promise<Pop3Client> {
    const t = endpoint.connectionTimeoutMs;
    const secure = endpoint.security === 'tls';
    const socket = secure
      ? tls.connect({ host: endpoint.host, port: endpoint.port, servername: net.isIP(endpoint.host) ? undefined : endpoint.host })
      : net.connect({ host: endpoint.host, port: endpoint.port });
    await new Promise<void>((resolve, reject) => {
      let tcpUp = false;
      const done = (err?: Error) => {
        clearTimeout(timer);
        socket.off('connect', onTcp);
        socket.off('secureConnect', onReady);
        socket.off('error', onErr);
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve();
      };
      const onTcp = () => {
        tcpUp = true;
        if (!secure) done();
      };
      const onReady = () => done();
      // A failure after TCP is up, on a TLS socket, is the handshake's.
      const onErr = (e: Error) => done(secure && tcpUp ? tlsError(e) : e);
      const timer = setTimeout(
        () =>
          done(
            secure && tcpUp
              ? pop3Error('TLS handshake timed out', { code: 'UPGRADE_TIMEOUT' })
              : pop3Error('Connection timed out', { code: 'CONNECT_TIMEOUT' }),
          ),
        t,
      );
      socket.once('connect', onTcp);
      socket.once('secureConnect', onReady);
      socket.on('error', onErr);
    });
    const client = new Pop3Client(socket, t);
    try {
      const greeting = await client.readLine('GREETING_TIMEOUT', 'the greeting');
      if (!greeting.startsWith('+OK')) throw pop3Error(`The POP3 server refused the session`, replyFacts(greeting, 'greeting'));
      if (endpoint.security === 'starttls') await client.startTls(endpoint.host);
    } catch (err) {
      client.destroy();
      throw err;
    }
    return client;
  }

  /** USER and PASS; a rejection carries the facts classifyMailError reads (credentials, or busy). */
  async login(username: string, password: string): Promise<void> {
    await this.command(`USER ${username}`, 'USER');
    await this.command(`PASS ${password}`, 'PASS');
  }

  /** The maildrop's message count and size, or null when the server's reply does not say. */
  async stat(): Promise<{ count: number; bytes: number } | null> {
    const m = /^\+OK\s+(\d+)\s+(\d+)/.exec(await this.command('STAT', 'STAT'));
    return m ? { count: Number(m[1]), bytes: Number(m[2]) } : null;
  }

  /** Every message's number and unique id, in message-number order. */
  async uidl(): Promise<{ number: number; uidl: string }[]> {
    return listing(await this.multiline('UIDL', 'UIDL')).map(([n, uidl]) => ({ number: Number(n), uidl }));
  }

  /** Every message's size in octets, by number. */
  async list(): Promise<Map<number, number>> {
    return new Map(listing(await this.multiline('LIST', 'LIST')).map(([n, size]) => [Number(n), Number(size)]));
  }

  /** The whole message, as the server holds it. */
  async retr(messageNumber: number): Promise<Buffer> {
    return this.multiline(`RETR ${messageNumber}`, 'RETR');
  }

  /** Marks the message deleted; the server removes it only when the session ends with QUIT. */
  async dele(messageNumber: number): Promise<void> {
    await this.command(`DELE ${messageNumber}`, 'DELE');
  }

  /** QUIT, which makes the server carry out the DELEs; whatever happens the socket is gone afterwards. */
  async quit(): Promise<void> {
    try {
      if (!this.failed && !this.socket.destroyed) await this.command('QUIT', 'QUIT');
    } finally {
      this.destroy();
    }
  }

  /** Ends the session without QUIT: the server deletes nothing marked in it. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Sends one command and returns its +OK line; a -ERR reply rejects with the server's facts. */
  private command(line: string, name: string): Promise<string> {
    return this.serialised(() => this.send(line, name));
  }

  /** A command with a multi-line answer: its data, dot-unstuffed, after the +OK line. */
  private multiline(line: string, name: string): Promise<Buffer> {
    return this.serialised(async () => {
      await this.send(line, name);
      return unstuff(await this.readBlock(name));
    });
  }

  private serialised<T>(step: () => Promise<T>): Promise<T> {
    const result = this.queue.then(step, step);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async send(line: string, name: string): Promise<string> {
    if (/[\r\n\0]/.test(line)) {
      throw pop3Error(`The ${name === 'PASS' ? 'password' : 'user name'} contains a line break or NUL, which POP3 cannot send`, {
        errorClass: 'permanent',
      });
    }
    if (this.failed) throw this.failed;
    if (this.socket.destroyed) throw pop3Error('The POP3 connection is closed', { code: 'EConnectionClosed' });
    this.socket.write(`${line}\r\n`);
    this.lastData = Date.now();
    const reply = await this.readLine('ETIMEDOUT', name);
    if (reply.startsWith('+OK')) return reply;
    throw pop3Error(`POP3 ${name} failed`, replyFacts(reply, name));
  }

  /** STLS: upgrade the plain connection in place, refusing bytes sent before the handshake. */
  private async startTls(host: string): Promise<void> {
    try {
      await this.command('STLS', 'STLS');
    } catch (err) {
      if ((err as Pop3Error).pop3Status === '-ERR') throw pop3Error('STLS refused', { tlsFailed: true, code: 'Server does not support STLS' });
      throw err;
    }
    if (this.buffered > 0) throw pop3Error('The POP3 server sent data before the TLS handshake', { code: 'STARTTLS_INJECTION' });
    const plain = this.socket;
    this.detach(plain);
    // Keep an error listener on the plain socket until TLS owns it.
    plain.on('error', () => undefined);
    const secure = tls.connect({ socket: plain, servername: net.isIP(host) ? undefined : host });
    this.socket = secure;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        secure.off('secureConnect', onReady);
        secure.off('error', onErr);
        if (err) {
          secure.destroy();
          plain.destroy();
          reject(err);
        } else resolve();
      };
      const onReady = () => done();
      const onErr = (e: Error) => done(tlsError(e));
      const timer = setTimeout(() => done(pop3Error('TLS handshake timed out', { code: 'UPGRADE_TIMEOUT' })), this.timeoutMs);
      secure.once('secureConnect', onReady);
      secure.on('error', onErr);
    });
    this.attach(secure);
  }

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private detach(socket: net.Socket): void {
    socket.off('data', this.onData);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
  }

  private receive(d: Buffer): void {
    this.lastData = Date.now();
    this.feed(d);
    this.notify();
  }

  /** Bytes go to the open multi-line reply until its terminator, the rest to the line buffer. */
  private feed(d: Buffer): void {
    const b = this.block;
    if (!b || b.done) {
      this.chunks.push(d);
      this.buffered += d.length;
      return;
    }
    const probe = Buffer.concat([b.tail, d]);
    const at = probe.indexOf(TERMINATOR);
    if (at < 0) {
      b.parts.push(d);
      b.length += d.length;
      b.tail = probe.subarray(Math.max(0, probe.length - TERMINATOR.length + 1));
      return;
    }
    // Where the terminator starts, counted in the reply's data (the tail is what came just before `d`).
    const start = b.length - b.tail.length + at;
    b.done = Buffer.concat([...b.parts, d]).subarray(0, start + 2);
    const rest = d.subarray(at - b.tail.length + TERMINATOR.length);
    if (rest.length > 0) {
      this.chunks.push(rest);
      this.buffered += rest.length;
    }
  }

  private fail(e: Error): void {
    this.failed ??= e;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Waits until `take` returns something, the connection fails, or the server is silent for the time-out. */
  private async waitFor<T>(take: () => T | undefined, timeoutCode: string, what: string): Promise<T> {
    for (;;) {
      const got = take();
      if (got !== undefined) return got;
      if (this.failed) throw this.failed;
      const left = this.lastData + this.timeoutMs - Date.now();
      if (left <= 0) {
        this.destroy();
        throw pop3Error(`No answer from the POP3 server (${what}) within ${this.timeoutMs} ms`, { code: timeoutCode });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** The next reply line (CRLF or a bare LF ends it). */
  private readLine(timeoutCode: string, what: string): Promise<string> {
    return this.waitFor(
      () => {
        const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
        const lf = all.indexOf(0x0a);
        if (lf < 0) {
          this.chunks = all.length > 0 ? [all] : [];
          if (all.length > MAX_LINE) {
            this.destroy();
            this.fail(pop3Error(`The POP3 server sent a line longer than ${MAX_LINE} bytes`, { code: 'EPROTOCOL' }));
          }
          return undefined;
        }
        const rest = all.subarray(lf + 1);
        this.chunks = rest.length > 0 ? [rest] : [];
        this.buffered = rest.length;
        return all.subarray(0, lf).toString('utf8').replace(/\r$/, '');
      },
      timeoutCode,
      what,
    );
  }

  /** The data of a multi-line reply whose +OK line was read, up to (not including) the lone dot. */
  private async readBlock(what: string): Promise<Buffer> {
    // The +OK line's CRLF precedes the data: an empty reply is just ".\r\n".
    const block: OpenBlock = { parts: [], length: 0, tail: Buffer.from('\r\n') };
    this.block = block;
    const waiting = this.chunks;
    this.chunks = [];
    this.buffered = 0;
    for (const d of waiting) this.feed(d);
    try {
      return await this.waitFor(() => block.done, 'ETIMEDOUT', what);
    } finally {
      this.block = undefined;
    }
  }
}

/** Removes the dot the server put before every line that starts with one. */
export function unstuff(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  if (data[0] === 0x2e) from = 1;
  for (let i = data.indexOf('\n.', from); i >= 0; i = data.indexOf('\n.', i + 2)) {
    parts.push(data.subarray(from, i + 1));
    from = i + 2;
  }
  if (parts.length === 0 && from === 0) return data;
  parts.push(data.subarray(from));
  return Buffer.concat(parts);
}

/** "1 abc\r\n2 def\r\n" -> [['1', 'abc'], ['2', 'def']]. */
function listing(data: Buffer): [string, string][] {
  return data
    .toString('latin1')
    .split(/\r?\n/)
    .filter((line) => line.trim().length > 0)
    .map((line) => {
      const [n, value] = line.trim().split(/\s+/, 2);
      return [n, value ?? ''];
    });
}

function tlsError(e: Error): Pop3Error {
  const code = str((e as NodeJS.ErrnoException).code);
  // Network codes (a reset in the middle of the handshake) still say "could not reach".
  if (code && /^E[A-Z]+$/.test(code) && code !== 'EPROTO') return e as Pop3Error;
  return pop3Error(e.message, { tlsFailed: true, code });
}

/** The facts classifyMailError reads, from a POP3 reply that is not +OK. */
function replyFacts(reply: string, name: string): Record<string, unknown> {
  const isErr = reply.startsWith('-ERR');
  const text = (isErr ? reply.slice(4) : reply).trim();
  const facts: Record<string, unknown> = { pop3Status: isErr ? '-ERR' : 'other', responseText: text || reply || '(empty reply)' };
  if (!isErr) return { ...facts, message: `Unexpected POP3 reply to ${name}: ${text.slice(0, 200)}`, code: 'EPROTOCOL' };
  const code = /^\[([A-Za-z0-9/-]+)\]/.exec(text)?.[1]?.toUpperCase();
  if (code && BUSY[code]) return { ...facts, serverResponseCode: BUSY[code] };
  if (name === 'USER' || name === 'PASS') return { ...facts, authenticationFailed: true };
  return { ...facts, message: `The POP3 server refused ${name === 'greeting' ? 'the session' : name} (server said: ${text})` };
}
