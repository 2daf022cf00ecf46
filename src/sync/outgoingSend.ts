import type { Handover, OutgoingRoute, OutgoingTransport, SentCopy } from '../mail/mailSender';
import { afterDeferral, partialDeliveryNote, type SendFailureDecision, type SendRetrySettings } from '../policy/outgoingSend';
import type { OutgoingContext, OutgoingEmail, OutgoingParty, OutgoingStore } from '../store/outgoingStore';
import { SentCopier } from './sentCopier';

export interface OutgoingSendDeps {
  store: OutgoingStore;
  /** The mailbox's way out (SMTP and IMAP, or Graph), or why it has none: outgoing is then disabled with that reason. */
  routeFor: (context: OutgoingContext) => OutgoingRoute | { missing: string };
  /** Runs `use` holding one of the slot's connections, released when it settles. */
  withConnectionSlot: <T>(slot: OutgoingRoute['slot'], use: () => Promise<T>) => Promise<T>;
  batchSize: number;
  retry: SendRetrySettings;
  /** Called after each email: the activity heartbeats it. */
  onProgress?: () => void;
}

export type OutgoingSendResult =
  | { status: 'disabled' }
  | {
      status: 'done';
      sent: number;
      failed: number;
      deferred: number;
      /** Epoch ms when the next deferred email falls due; null when none waits. */
      nextDueAt: number | null;
    }
  /** The server could not be reached: the emails wait, the run should be tried again later. */
  | { status: 'unreachable'; message: string; sent: number }
  /** The server asked to slow down: the emails wait `retryAfterMs` (null: not said); not a failure. */
  | { status: 'throttled'; retryAfterMs: number | null; sent: number; profileId: string | null };

type Phase =
  | { stop: null }
  | { stop: 'disabled' }
  | { stop: 'unreachable'; message: string }
  | { stop: 'throttled'; retryAfterMs: number | null };

// A larger message is composed again for its copy rather than kept: a batch of them would hold twice its attachments.
const KEEP_AS_SENT_MAX_BYTES = 1024 * 1024;
// A run keeps its connection from batch to batch at most this long, then lets others have a turn at the server's slots.
const KEEP_CONNECTION_MAX_MS = 10_000;

/**
 * Sends the mailbox owner's due emails, batch by batch, through the mailbox's route: each is
 * marked `sending` before it goes to the server and `accepted` as soon as the server took it,
 * then, when the product keeps the Sent copy, copied to the Sent folder and marked `sent` (a
 * batch's copies are saved while the next batch is sent, on one connection for the run: see
 * SentCopier). An email found `sending` from a lost run is first looked for where the route says
 * (the Sent folder by its Message-ID, the Graph draft), and sent again only if it did not go out.
 * The sending connection serves batch after batch while the copies keep up, for
 * KEEP_CONNECTION_MAX_MS at most.
 */
export async function runOutgoingSend(mailboxId: string, deps: OutgoingSendDeps): Promise<OutgoingSendResult> {
  const context = await deps.store.loadOutgoingContext(mailboxId);
  if (!context || !context.outgoingEnabled) return { status: 'disabled' };
  const route = deps.routeFor(context);
  if ('missing' in route) {
    await deps.store.disableOutgoing(mailboxId, route.missing);
    return { status: 'disabled' };
  }
  const from: OutgoingParty = { address: context.emailAddress, name: context.senderName };
  const totals = { sent: 0, failed: 0, deferred: 0 };
  const copier = route.sentCopies ? new SentCopier(route.sentCopies, route.slot, from, deps) : null;
  const take = () => deps.store.takeDueEmails(mailboxId, deps.batchSize, copier?.pendingEmailIds ?? []);
  const run: SendRun = { context, route, from, deps, totals, copier };
  let stopped: OutgoingSendResult | null = null;
  try {
    let emails = await take();
    while (emails.length > 0) {
      copier?.setSendingWaitsForSlot(true);
      const held = await deps.withConnectionSlot(route.slot, async (): Promise<{ phase: Phase; more: boolean }> => {
        copier?.setSendingWaitsForSlot(false);
        const keepUntil = Date.now() + KEEP_CONNECTION_MAX_MS;
        const connection = new SendingConnection(route);
        try {
          for (;;) {
            const phase = await sendTaken(run, emails, connection);
            // Stopped, or the folder failed while this batch was sent (its copies wait for the next run with the others).
            if (phase.stop || copier?.unreachable || copier?.failure) return { phase, more: false };
            // Waiting for the copies while holding a slot could keep the copier from the one it needs.
            if (Date.now() >= keepUntil || (copier && !copier.keepsUp)) return { phase, more: true };
            emails = await take();
            if (emails.length === 0) return { phase, more: false };
          }
        } finally {
          await connection.close();
        }
      });
      stopped = stoppedBy(held.phase, context);
      if (!held.more) break;
      await copier?.caughtUp();
      emails = await take();
    }
  } finally {
    // A run that ends, or throws, leaves no copy being saved behind it: the next run could save it again.
    await copier?.finish();
  }
  if (copier?.failure) throw copier.failure.error;
  totals.sent += copier?.sent ?? 0;
  if (stopped?.status === 'disabled') return stopped;
  if (stopped?.status === 'throttled') return { ...stopped, sent: totals.sent };
  const unreachable = stopped?.status === 'unreachable' ? stopped.message : copier?.unreachable;
  if (unreachable) return await unreachableRun(mailboxId, unreachable, totals, deps);
  if (totals.sent > 0) await deps.store.recordOutgoingSuccess(mailboxId);
  const next = await deps.store.nextDeferredAt(mailboxId);
  return { status: 'done', ...totals, nextDueAt: next ? next.getTime() : null };
}

function stoppedBy(phase: Phase, context: OutgoingContext): OutgoingSendResult | null {
  if (phase.stop === 'disabled') return { status: 'disabled' };
  if (phase.stop === 'throttled') return { status: 'throttled', retryAfterMs: phase.retryAfterMs, sent: 0, profileId: context.profileId };
  if (phase.stop === 'unreachable') return { status: 'unreachable', message: phase.message, sent: 0 };
  return null;
}

interface SendRun {
  context: OutgoingContext;
  route: OutgoingRoute;
  from: OutgoingParty;
  deps: OutgoingSendDeps;
  totals: { sent: number; failed: number; deferred: number };
  copier: SentCopier | null;
}

/** The transport a run holding a slot sends through, opened when first needed and kept for the next batch. */
class SendingConnection {
  private transport: OutgoingTransport | null = null;

  constructor(private readonly route: OutgoingRoute) {}

  async open(): Promise<OutgoingTransport> {
    this.transport ??= await this.route.openTransport();
    return this.transport;
  }

  async close(): Promise<void> {
    const transport = this.transport;
    this.transport = null;
    await transport?.close();
  }
}

/** One taken batch, on the slot the run holds: interrupted emails looked for, the rest sent, the accepted handed to the copies. */
async function sendTaken(run: SendRun, emails: OutgoingEmail[], connection: SendingConnection): Promise<Phase> {
  const { context, route, deps, totals, copier } = run;
  const interrupted = emails.filter((e) => e.interrupted && !e.accepted);
  let alreadySent = new Set<string>();
  const accepted: SentCopy[] = [];
  let phase: Phase | null = null;
  if (interrupted.length > 0) {
    // The look-up opens a connection of its own: the slot serves one at a time.
    await connection.close();
    try {
      alreadySent = await route.findDelivered(interrupted, deps.onProgress);
    } catch (err) {
      // Nothing is known of the interrupted ones: they stay `sending`, the others wait.
      phase = await stopAll(context, emails.filter((e) => !e.interrupted), route.decideFailure(err), deps);
    }
  }
  phase ??= await sendBatch(
    run,
    emails.filter((e) => !e.accepted && !alreadySent.has(e.id)),
    connection,
    accepted,
  );
  const foundSent = emails.filter((e) => alreadySent.has(e.id)).map((e) => e.id);
  // Accepted in a lost run: without copies wanted, recorded `sent` then, unless the route changed since.
  const acceptedEarlier = emails.filter((e) => e.accepted);
  if (copier) {
    await deps.store.recordSent(foundSent, true);
    totals.sent += foundSent.length;
    copier.add({ acceptedNow: accepted, acceptedEarlier });
  } else {
    await deps.store.recordSent([...foundSent, ...acceptedEarlier.map((e) => e.id)], true);
    totals.sent += accepted.length + foundSent.length + acceptedEarlier.length;
  }
  return phase;
}

async function unreachableRun(mailboxId: string, message: string, totals: { sent: number }, deps: OutgoingSendDeps): Promise<OutgoingSendResult> {
  await deps.store.recordOutgoingUnreachable(mailboxId, message);
  return { status: 'unreachable', message, sent: totals.sent };
}

async function sendBatch({ context, route, from, deps, totals }: SendRun, emails: OutgoingEmail[], connection: SendingConnection, accepted: SentCopy[]): Promise<Phase> {
  if (emails.length === 0) return { stop: null };
  const { store } = deps;
  let transport: OutgoingTransport;
  try {
    transport = await connection.open();
  } catch (err) {
    return stopAll(context, emails, route.decideFailure(err), deps);
  }
  for (const [i, email] of emails.entries()) {
    if (email.to.length + email.cc.length + email.bcc.length === 0) {
      // Nothing the server could take: failed now, not retried (a row written without its parties).
      await store.recordFailed(context.mailboxId, email.id, 'The email has no recipients (to, cc or bcc with an address): add them and queue it again');
      totals.failed++;
      continue;
    }
    let handover: Handover;
    try {
      handover = await transport.send(email, from);
    } catch (err) {
      const decision = route.decideFailure(err);
      if (decision.kind === 'defer') {
        const next = afterDeferral(email.sendAttempts + 1, context.maxSendAttempts, deps.retry);
        if (next.fail) {
          await store.recordFailed(context.mailboxId, email.id, `${decision.reason} (after ${email.sendAttempts + 1} attempts)`);
          totals.failed++;
        } else {
          await store.recordDeferred(email.id, decision.reason, new Date(Date.now() + next.retryInMs));
          totals.deferred++;
        }
      } else if (decision.kind === 'reject') {
        await store.recordFailed(context.mailboxId, email.id, decision.reason);
        totals.failed++;
      } else {
        // This email stays `sending` when it may have reached the server: the next run looks for it first.
        const rest = decision.kind !== 'disable' && decision.mayHaveBeenAccepted ? emails.slice(i + 1) : emails.slice(i);
        return stopAll(context, rest, decision, deps);
      }
      deps.onProgress?.();
      continue;
    }
    // Not among the server's errors: a failed write is the database's, and ends the run with the
    // email left `sending`, as if it stopped right after the 250: the next run looks for it first.
    await store.recordAccepted(email.id, { note: partialDeliveryNote(handover.rejected), sent: !route.sentCopies });
    // The copy keeps the Bcc the wire leaves out: only a message without one is the same.
    const reusable = route.sentCopies !== null && handover.message !== undefined && email.bcc.length === 0 && handover.message.length <= KEEP_AS_SENT_MAX_BYTES;
    accepted.push({ email, asSent: reusable ? handover.message : undefined });
    deps.onProgress?.();
  }
  return { stop: null };
}

/** The server refused the credentials or could not be reached: these emails were not handed over and wait. */
async function stopAll(context: OutgoingContext, unsent: OutgoingEmail[], decision: SendFailureDecision, deps: OutgoingSendDeps): Promise<Phase> {
  // Throttled emails are not due before the wait the server asked for, whoever wakes the mailbox.
  const notBefore = decision.kind === 'throttled' && decision.retryAfterMs !== null ? new Date(Date.now() + decision.retryAfterMs) : null;
  await deps.store.releaseUnsent(
    unsent.map((e) => e.id),
    notBefore,
  );
  if (decision.kind === 'disable') {
    await deps.store.disableOutgoing(context.mailboxId, decision.reason);
    return { stop: 'disabled' };
  }
  if (decision.kind === 'throttled') return { stop: 'throttled', retryAfterMs: decision.retryAfterMs };
  return { stop: 'unreachable', message: decision.reason };
}
