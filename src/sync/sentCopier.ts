import type { OutgoingRoute, SentCopy, SentFolder } from '../mail/mailSender';
import { isDatabaseUnavailable } from '../policy/databaseAvailability';
import type { OutgoingEmail, OutgoingParty, OutgoingStore } from '../store/outgoingStore';

/** A batch's copies for the Sent folder: those accepted in this run, and those accepted in a lost run (looked for first). */
export interface CopyJob {
  acceptedNow: SentCopy[];
  acceptedEarlier: OutgoingEmail[];
}

export interface SentCopierDeps {
  store: OutgoingStore;
  withConnectionSlot: <T>(slot: OutgoingRoute['slot'], use: () => Promise<T>) => Promise<T>;
  onProgress?: () => void;
}

/**
 * Saves a sending run's Sent copies on a connection of its own, batch after batch, while the run
 * goes on sending. Its connection stays open between batches (the next copies come soon) and is
 * closed once it has nothing to save while the sending side waits for a slot, so neither ever
 * waits for a slot the other holds. A copy the server refuses for good does not
 * hold an email back (it was delivered: `sent`, with a note); a folder that cannot be reached stops
 * the copier, its emails left accepted for the next run to copy.
 */
export class SentCopier {
  private readonly queue: CopyJob[] = [];
  private inFlight: CopyJob | null = null;
  private sendingWaitsForSlot = false;
  private finishing = false;
  private running: Promise<void> = Promise.resolve();
  private active = false;
  private waiters: (() => void)[] = [];
  /** Emails marked `sent` so far. */
  sent = 0;
  /** Why the Sent folder could not be reached, once it could not: the copier stopped. */
  unreachable: string | null = null;
  /** An error that is not the folder's (the database's): the run ends with it. */
  failure: { error: unknown } | null = null;

  constructor(
    private readonly copies: NonNullable<OutgoingRoute['sentCopies']>,
    private readonly slot: OutgoingRoute['slot'],
    private readonly from: OutgoingParty,
    private readonly deps: SentCopierDeps,
  ) {}

  /** The emails of the copies not yet saved: the run must not take them again. */
  get pendingEmailIds(): string[] {
    const jobs = this.inFlight ? [this.inFlight, ...this.queue] : this.queue;
    return jobs.flatMap((job) => [...job.acceptedNow.map((c) => c.email.id), ...job.acceptedEarlier.map((e) => e.id)]);
  }

  private get stopped(): boolean {
    return this.unreachable !== null || this.failure !== null;
  }

  add(job: CopyJob): void {
    if (job.acceptedNow.length + job.acceptedEarlier.length === 0) return;
    this.queue.push(job);
    this.changed();
    if (this.active) return;
    this.active = true;
    this.running = this.run();
  }

  /** The run's sending side waits for a connection slot, or no longer does. */
  setSendingWaitsForSlot(waits: boolean): void {
    this.sendingWaitsForSlot = waits;
    this.changed();
  }

  /** At most one batch waits for its copies (the sending side keeps at most two batches ahead), or the copier stopped. */
  get keepsUp(): boolean {
    return this.queue.length <= 1 || this.stopped;
  }

  /** Until the copies keep up. */
  async caughtUp(): Promise<void> {
    await this.until(() => this.keepsUp);
  }

  /** Saves what is left (unless stopped) and closes the connection. Never rejects. */
  async finish(): Promise<void> {
    this.finishing = true;
    this.changed();
    await this.running;
  }

  private async run(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.stopped) {
        try {
          await this.deps.withConnectionSlot(this.slot, async () => {
            const folder = await this.copies.open();
            try {
              for (let job = await this.nextJob(); job; job = await this.nextJob()) {
                this.inFlight = job;
                await this.save(folder, job);
                this.inFlight = null;
                this.changed();
              }
            } finally {
              await folder.close();
            }
          });
        } catch (err) {
          await this.failed(err).catch((error: unknown) => {
            this.failure = { error };
          });
          this.changed();
        }
      }
    } finally {
      // Set in the same turn as the last look at the queue, so a job added after it starts a new loop.
      this.active = false;
    }
  }

  /** The next job; none when there is nothing to save and no reason to keep the connection. */
  private async nextJob(): Promise<CopyJob | undefined> {
    await this.until(() => this.queue.length > 0 || this.sendingWaitsForSlot || this.finishing);
    const job = this.queue.shift();
    this.changed();
    return job;
  }

  private async save(folder: SentFolder, { acceptedNow, acceptedEarlier }: CopyJob): Promise<void> {
    const present = await folder.find(acceptedEarlier.map((e) => e.messageId));
    const toCopy = [...acceptedNow, ...acceptedEarlier.map((email) => ({ email }))];
    await folder.save(
      toCopy.filter((c) => !present.has(c.email.messageId)),
      this.from,
      () => this.deps.onProgress?.(),
    );
    await this.deps.store.recordSent(
      toCopy.map((c) => c.email.id),
      true,
    );
    this.sent += toCopy.length;
  }

  /** The job being saved (or, when the connection could not open, the next one) failed: it stays pending unless refused for good. */
  private async failed(err: unknown): Promise<void> {
    if (isDatabaseUnavailable(err)) {
      this.failure = { error: err };
      return;
    }
    const classified = this.copies.classify(err);
    if (classified.errorClass !== 'permanent') {
      this.unreachable = `The Sent folder could not be reached: ${classified.message}`;
      return;
    }
    // Refused for good (quota, a folder it will not create): delivered all the same.
    const job = this.inFlight ?? this.queue.shift();
    this.inFlight = null;
    if (!job) return;
    const ids = [...job.acceptedNow.map((c) => c.email.id), ...job.acceptedEarlier.map((e) => e.id)];
    await this.deps.store.recordSent(ids, false);
    this.sent += ids.length;
  }

  private changed(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  private async until(condition: () => boolean): Promise<void> {
    while (!condition()) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}
