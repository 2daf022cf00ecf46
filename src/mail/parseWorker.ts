import { readFileSync } from 'node:fs';
import type { EmailMessage } from '../domain/email';
import { emailFromGraph, type GraphMessageInput } from './graph/graphMessage';
import { parseMimeMessage } from './mimeParser';

export type ParseOutcome = { message: EmailMessage } | { error: string };

/** Several raw messages end to end in one buffer (moved, not copied, to the thread), and where each ends. */
export interface ParseTask {
  data: Uint8Array;
  lengths: number[];
}

export interface ParseTaskResult {
  outcomes: ParseOutcome[];
  /** CPU time of the thread on the task (Linux); elsewhere the time it took. */
  cpuMs: number;
}

/** This thread's CPU time, ms, where Linux tells it (the first field of schedstat, ns); else the clock. */
function threadClockMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return performance.now();
  }
}

/** A parse-pool thread's task: the messages of `task`, parsed one by one. */
export default async function parseMany({ data, lengths }: ParseTask): Promise<ParseTaskResult> {
  const started = threadClockMs();
  const all = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const outcomes: ParseOutcome[] = [];
  let offset = 0;
  for (const length of lengths) {
    const raw = all.subarray(offset, offset + length);
    offset += length;
    try {
      outcomes.push(forTransfer(await parseMimeMessage(raw)));
    } catch (err) {
      outcomes.push({ error: (err as Error).message });
    }
  }
  return { outcomes, cpuMs: threadClockMs() - started };
}

/**
 * An attachment may be a view into a larger buffer, which the answer would copy for each one:
 * each gets a buffer of its own size (the pool wraps them back into Buffers).
 */
function forTransfer(message: EmailMessage): ParseOutcome {
  return { message: { ...message, attachmentContent: message.attachmentContent.map((c) => new Uint8Array(c) as Buffer) } };
}

/** A parse-pool thread's other task: Graph messages mapped as the CRM stores them (sanitising HTML is most of it). */
export function mapGraphMessages(inputs: GraphMessageInput[]): ParseTaskResult {
  const started = threadClockMs();
  const outcomes = inputs.map((input): ParseOutcome => {
    try {
      return forTransfer(emailFromGraph(input.message, input.attachments));
    } catch (err) {
      return { error: (err as Error).message };
    }
  });
  return { outcomes, cpuMs: threadClockMs() - started };
}
