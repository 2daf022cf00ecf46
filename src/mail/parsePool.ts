import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Piscina } from 'piscina';
import type { EmailMessage } from '../domain/email';

/** Threads for parsing when not configured: the cores left over by the worker's own thread, at least one. */
export function defaultParseThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

/**
 * Parses raw messages on worker threads, so a host with more cores parses more at once and the
 * thread that talks IMAP and PostgreSQL never waits for a parse. One per worker process.
 */
export class ParsePool {
  private readonly pool: Piscina;

  constructor(threads: number = defaultParseThreads()) {
    // Run from source (tsx, jest), the thread loads TypeScript through tsx too; built, the .js beside this one.
    const fromSource = __filename.endsWith('.ts');
    this.pool = new Piscina({
      filename: path.join(__dirname, fromSource ? 'parseWorker.ts' : 'parseWorker.js'),
      execArgv: fromSource ? ['--require', require.resolve('tsx/cjs')] : [],
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.POSITIVE_INFINITY,
    });
  }

  get threads(): number {
    return this.pool.maxThreads;
  }

  /** Parses completed on the pool's threads since it started. */
  get completed(): number {
    return this.pool.completed;
  }

  async parse(raw: Buffer): Promise<EmailMessage> {
    const message: EmailMessage = await this.pool.run(raw);
    // Buffers cross the thread boundary as plain Uint8Arrays.
    return { ...message, attachmentContent: message.attachmentContent.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)) };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
