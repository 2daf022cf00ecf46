/**
 * Test harness: a loopback TCP proxy that counts connections and IMAP commands.
 *
 * - Forwards bytes both ways between clients and target host:port.
 * - Counts current / peak / total connections and a time-weighted mean of concurrent ones.
 * - Counts IMAP commands sent by clients: a client line (CRLF-terminated) counts when it
 *   starts with a tag followed by a command (/^[A-Za-z0-9.]+ [A-Za-z]/). Literal data
 *   ({N}, {N+}, ~{N} at the end of a line) is skipped and the text after a literal is treated
 *   as the rest of the same command, so APPENDed messages are not miscounted. Continuation
 *   lines such as IDLE's "DONE" or SASL responses do not match the pattern.
 * - `{ blackhole: true }`: accepts connections but never answers nor forwards (hung server).
 * - `{ delayMs }`: holds each chunk from the server that long before passing it on (a slow server).
 */
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface CountingTcpProxyOptions {
  /** Accept connections but never forward or answer anything. */
  blackhole?: boolean;
  /** Hold each chunk the server sends this long before passing it on. */
  delayMs?: number;
}

const COMMAND_RE = /^[A-Za-z0-9.]+ [A-Za-z]/;
const LITERAL_RE = /~?\{(\d+)\+?\}\r?$/;
const HEAD_BYTES = 256;
const TAIL_BYTES = 40;

/** Incremental parser of the client->server IMAP byte stream. */
class ImapCommandCounter {
  private head = '';
  private tail = '';
  private literalLeft = 0;
  /** True while the current line continues a command that had a literal. */
  private continuation = false;

  constructor(private readonly onCommand: () => void) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.literalLeft > 0) {
        const n = Math.min(this.literalLeft, chunk.length - off);
        this.literalLeft -= n;
        off += n;
        continue;
      }
      const lf = chunk.indexOf(0x0a, off);
      const end = lf < 0 ? chunk.length : lf;
      if (end > off) this.append(chunk.toString('latin1', off, end));
      if (lf < 0) return;
      off = lf + 1;
      this.endOfLine();
    }
  }

  private append(s: string): void {
    if (this.head.length < HEAD_BYTES) this.head += s.slice(0, HEAD_BYTES - this.head.length);
    this.tail = (this.tail + s).slice(-TAIL_BYTES);
  }

  private endOfLine(): void {
    if (!this.continuation && COMMAND_RE.test(this.head)) this.onCommand();
    const lit = LITERAL_RE.exec(this.tail);
    if (lit) {
      this.literalLeft = Number(lit[1]);
      this.continuation = true;
    } else {
      this.continuation = false;
    }
    this.head = '';
    this.tail = '';
  }
}

export class CountingTcpProxy {
  readonly host = '127.0.0.1';
  readonly port: number;
  readonly targetHost: string;
  readonly targetPort: number;
  /** When true, new connections are accepted and then ignored (can be switched at runtime). */
  blackhole: boolean;

  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private open = 0;
  private peak = 0;
  private total = 0;
  private commands = 0;
  private windowStart = performance.now();
  private lastChange = this.windowStart;
  private area = 0;
  private closed = false;

  private constructor(
    server: net.Server,
    port: number,
    targetHost: string,
    targetPort: number,
    blackhole: boolean,
    private readonly delayMs: number,
  ) {
    this.server = server;
    this.port = port;
    this.targetHost = targetHost;
    this.targetPort = targetPort;
    this.blackhole = blackhole;
  }

  static async start(targetHost: string, targetPort: number, opts: CountingTcpProxyOptions = {}): Promise<CountingTcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (!addr || typeof addr !== 'object') throw new Error('CountingTcpProxy: no listening address');
    const proxy = new CountingTcpProxy(server, addr.port, targetHost, targetPort, opts.blackhole ?? false, opts.delayMs ?? 0);
    server.on('connection', (sock) => proxy.onConnection(sock));
    return proxy;
  }

  /** Currently open client connections. */
  get openConnections(): number {
    return this.open;
  }

  /** Peak of openConnections since start / the last resetCounters(). */
  get maxConcurrent(): number {
    return this.peak;
  }

  /** Client connections accepted since start / the last resetCounters(). */
  get totalConnections(): number {
    return this.total;
  }

  /** IMAP commands sent by clients since start / the last resetCounters(). */
  get clientCommands(): number {
    return this.commands;
  }

  /** Starts a new measurement window; maxConcurrent restarts from the current open count. */
  resetCounters(): void {
    const now = performance.now();
    this.peak = this.open;
    this.total = 0;
    this.commands = 0;
    this.area = 0;
    this.windowStart = now;
    this.lastChange = now;
  }

  /** Time-weighted mean number of open connections since start / the last resetCounters(). */
  meanConcurrent(): number {
    const now = performance.now();
    const elapsed = now - this.windowStart;
    if (elapsed <= 0) return this.open;
    return (this.area + this.open * (now - this.lastChange)) / elapsed;
  }

  /** Destroys all current connections (both sides) but keeps listening. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Stops listening and destroys all sockets. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.dropConnections();
    await done;
  }

  private setOpen(delta: number): void {
    const now = performance.now();
    this.area += this.open * (now - this.lastChange);
    this.lastChange = now;
    this.open += delta;
    if (this.open > this.peak) this.peak = this.open;
  }

  private track(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.once('close', () => this.sockets.delete(sock));
  }

  private onConnection(client: net.Socket): void {
    if (this.closed) {
      client.destroy();
      return;
    }
    this.total++;
    this.track(client);
    // The connection counts as the server sees it: from its accept until either side ends it.
    // The count goes up after the I/O callbacks of this event-loop turn, so that a close that
    // reached the proxy before this accept (in the same turn, under load) is counted first.
    let state: 'pending' | 'counted' | 'done' = 'pending';
    setImmediate(() => {
      if (state !== 'pending') return;
      state = 'counted';
      this.setOpen(+1);
    });
    const uncount = () => {
      if (state === 'counted') this.setOpen(-1);
      state = 'done';
    };
    client.once('end', uncount);
    client.once('close', uncount);
    client.on('error', () => client.destroy());
    client.setNoDelay(true);

    const counter = new ImapCommandCounter(() => this.commands++);
    client.on('data', (d: Buffer) => counter.push(d));

    if (this.blackhole) {
      // Swallow everything, never answer; the socket stays open until either side closes it.
      return;
    }

    const upstream = net.connect({ host: this.targetHost, port: this.targetPort });
    this.track(upstream);
    upstream.setNoDelay(true);
    upstream.on('error', () => {
      upstream.destroy();
      client.destroy();
    });
    client.on('error', () => upstream.destroy());
    // A side that closes normally has its buffered bytes flushed to the other side first.
    const closeOther = (other: net.Socket) => (hadError: boolean) => {
      if (hadError) {
        other.destroy();
        return;
      }
      other.end();
      setTimeout(() => other.destroy(), 2000).unref();
    };
    upstream.once('end', uncount);
    upstream.once('close', uncount);
    upstream.once('close', closeOther(client));
    client.once('close', closeOther(upstream));
    client.pipe(upstream);
    if (this.delayMs > 0) {
      // Paused while a chunk is held, so the server's end comes after its last chunk.
      upstream.on('data', (d: Buffer) => {
        upstream.pause();
        setTimeout(() => {
          if (!client.destroyed) client.write(d);
          upstream.resume();
        }, this.delayMs);
      });
    } else {
      upstream.pipe(client);
    }
  }
}
