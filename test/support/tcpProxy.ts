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
 * - `{ oneWayDelayMs, bitsPerSecond }`: an emulated link, both directions: each chunk leaves after
 *   the link has sent what came before it at that rate, and arrives that much later (delay = RTT/2).
 *   Chunks in flight are pipelined, as on a real link; at most LINK_BUFFER_BYTES wait per direction
 *   (the sender is paused beyond that), so memory stays bounded.
 * - Keeps the first line of the last COMMAND_LOG_SIZE client commands (`commandLog`), and counts
 *   round trips: client sends that follow something received from the server (the greeting included).
 */
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface CountingTcpProxyOptions {
  /** Accept connections but never forward or answer anything. */
  blackhole?: boolean;
  /** Hold each chunk the server sends this long before passing it on. */
  delayMs?: number;
  /** Emulated link: one-way delay each way (half the round-trip time). */
  oneWayDelayMs?: number;
  /** Emulated link: bandwidth of each direction; unlimited when absent. */
  bitsPerSecond?: number;
}

const LINK_BUFFER_BYTES = 4 * 1024 * 1024;
const COMMAND_LOG_SIZE = 1000;
const MAX_ONE_WAY_DELAY_MS = 1000;

/**
 * One direction of an emulated link: chunks are serialised at the link's rate and delivered
 * `delayMs` after they left, in order, with one timer for the chunk due first.
 */
class EmulatedLink {
  private readonly queue: { data: Buffer; due: number }[] = [];
  private queuedBytes = 0;
  private busyUntil = 0;
  private timer?: NodeJS.Timeout;
  private ended = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly delayMs: number,
    private readonly bytesPerMs: number | null,
  ) {
    from.on('data', (d: Buffer) => this.push(d));
    from.once('end', () => {
      this.ended = true;
      this.flush();
    });
  }

  private push(data: Buffer): void {
    const now = performance.now();
    const leaves = Math.max(now, this.busyUntil) + (this.bytesPerMs ? data.length / this.bytesPerMs : 0);
    this.busyUntil = leaves;
    this.queue.push({ data, due: leaves + this.delayMs });
    this.queuedBytes += data.length;
    if (this.queuedBytes > LINK_BUFFER_BYTES) this.from.pause();
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, Math.max(0, this.queue[0].due - performance.now()));
  }

  private flush(): void {
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0].due <= now + 0.5) {
      const { data } = this.queue.shift()!;
      this.queuedBytes -= data.length;
      if (!this.to.destroyed) this.to.write(data);
    }
    if (this.queuedBytes <= LINK_BUFFER_BYTES / 2 && this.from.isPaused()) this.from.resume();
    if (this.queue.length > 0) this.schedule();
    else if (this.ended && !this.to.destroyed) this.to.end();
  }
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

  constructor(private readonly onCommand: (line: string) => void) {}

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
    if (!this.continuation && COMMAND_RE.test(this.head)) this.onCommand(this.head.replace(/\r$/, ''));
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
  private trips = 0;
  /** First line (up to 256 characters) of the last client commands, oldest first. */
  readonly commandLog: string[] = [];
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
    private readonly link: { oneWayDelayMs: number; bitsPerSecond: number | null } | null,
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
    const emulated = opts.oneWayDelayMs !== undefined || opts.bitsPerSecond !== undefined;
    if ((opts.oneWayDelayMs ?? 0) < 0 || (opts.oneWayDelayMs ?? 0) > MAX_ONE_WAY_DELAY_MS || (opts.bitsPerSecond ?? 1) <= 0) {
      throw new Error(`CountingTcpProxy: one-way delay must be 0..${MAX_ONE_WAY_DELAY_MS} ms and bandwidth positive`);
    }
    const link = emulated ? { oneWayDelayMs: opts.oneWayDelayMs ?? 0, bitsPerSecond: opts.bitsPerSecond ?? null } : null;
    const proxy = new CountingTcpProxy(server, addr.port, targetHost, targetPort, opts.blackhole ?? false, opts.delayMs ?? 0, link);
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

  /** Client sends that answered or followed data from the server: the round trips clients waited for. */
  get roundTrips(): number {
    return this.trips;
  }

  /** Starts a new measurement window; maxConcurrent restarts from the current open count. */
  resetCounters(): void {
    const now = performance.now();
    this.peak = this.open;
    this.total = 0;
    this.commands = 0;
    this.trips = 0;
    this.commandLog.length = 0;
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

    const counter = new ImapCommandCounter((line) => {
      this.commands++;
      this.commandLog.push(line);
      if (this.commandLog.length > COMMAND_LOG_SIZE) this.commandLog.shift();
    });
    // A round trip is the client speaking after the server did: it waited for what it got.
    let serverSpokeLast = false;
    client.on('data', (d: Buffer) => {
      counter.push(d);
      if (serverSpokeLast) this.trips++;
      serverSpokeLast = false;
    });

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
    upstream.on('data', () => (serverSpokeLast = true));
    if (this.link) {
      const bytesPerMs = this.link.bitsPerSecond ? this.link.bitsPerSecond / 8 / 1000 : null;
      // Each link ends its far side once what it carries has arrived; a failed side ends both at once.
      new EmulatedLink(client, upstream, this.link.oneWayDelayMs, bytesPerMs);
      new EmulatedLink(upstream, client, this.link.oneWayDelayMs, bytesPerMs);
      upstream.once('close', (hadError) => hadError && client.destroy());
      client.once('close', (hadError) => hadError && upstream.destroy());
      return;
    }
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
