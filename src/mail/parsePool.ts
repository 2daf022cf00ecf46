import path from 'node:path';
import { Piscina } from 'piscina';
import type { GraphMessageInput } from './graph/graphMessage';
import type { ParseOutcome, ParseTask, ParseTaskResult } from './parseWorker';

/**
 * Parses raw messages (and maps Graph messages) on worker threads, so a host with more cores parses more at once and the
 * thread that talks IMAP and PostgreSQL never waits for a parse. One per worker process.
 */
export class ParsePool {
  private readonly pool: Piscina;
  private parsed = 0;
  private cpu = 0;

  constructor(threads: number) {
    // Run from source (tsx, jest), the thread loads TypeScript through tsx too; built, the .js beside this one.
    const fromSource = __filename.endsWith('.ts');
    this.pool = new Piscina({
      filename: path.join(__dirname, fromSource ? 'parseWorker.ts' : 'parseWorker.js'),
      execArgv: fromSource ? ['--require', require.resolve('tsx/cjs')] : [],
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      // As the worker's --max-semi-space-size=16 (three semi-spaces): parsing allocates as much.
      resourceLimits: { maxYoungGenerationSizeMb: 48 },
    });
  }

  get threads(): number {
    return this.pool.maxThreads;
  }

  /** Tasks the pool's threads completed since it started. */
  get tasksCompleted(): number {
    return this.pool.completed;
  }

  /** Messages parsed on the pool's threads since it started. */
  get messagesParsed(): number {
    return this.parsed;
  }

  /** CPU time the pool's threads spent parsing since it started, ms (see ParseTaskResult). */
  get cpuMs(): number {
    return this.cpu;
  }

  /**
   * Parses `raws` in as many tasks as the pool has threads, a few messages each: one message per
   * task would cost more in messaging between threads than the parse itself.
   */
  async parseMany(raws: Buffer[]): Promise<ParseOutcome[]> {
    return this.spread(raws, (part) => this.runTask(part));
  }

  /** Maps Graph messages as the CRM stores them, spread over the threads like parseMany. */
  async mapGraphMany(inputs: GraphMessageInput[]): Promise<ParseOutcome[]> {
    return this.spread(inputs, (part) => this.pool.run(part, { name: 'mapGraphMessages' }));
  }

  private async spread<T>(inputs: T[], run: (part: T[]) => Promise<ParseTaskResult>): Promise<ParseOutcome[]> {
    const perTask = Math.max(1, Math.ceil(inputs.length / this.pool.maxThreads));
    const tasks: Promise<ParseTaskResult>[] = [];
    for (let i = 0; i < inputs.length; i += perTask) tasks.push(run(inputs.slice(i, i + perTask)));
    const results = await Promise.all(tasks);
    const outcomes = results.flatMap((r) => r.outcomes);
    this.parsed += outcomes.length;
    this.cpu += results.reduce((ms, r) => ms + r.cpuMs, 0);
    return outcomes.map((outcome) =>
      'message' in outcome
        ? // Buffers cross the thread boundary as plain Uint8Arrays.
          { message: { ...outcome.message, attachmentContent: outcome.message.attachmentContent.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)) } }
        : outcome,
    );
  }

  private runTask(raws: Buffer[]): Promise<ParseTaskResult> {
    const data = new Uint8Array(raws.reduce((n, r) => n + r.length, 0));
    let offset = 0;
    for (const raw of raws) {
      data.set(raw, offset);
      offset += raw.length;
    }
    const task: ParseTask = { data, lengths: raws.map((r) => r.length) };
    return this.pool.run(task, { transferList: [data.buffer] });
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
