/**
 * How a mail server's recent behaviour stretches the sync delay of every mailbox on it: slow
 * answers and connection failures lengthen it, throttling defers it. Pure, for the workflow.
 */
export interface ServerHealth {
  /** Moving average of connect + login + first folder, in ms. */
  responseMs: number;
  /** Connection-level failures in a row across the server's mailboxes. */
  failuresInRow: number;
  /** Epoch ms until which the server asked us to hold off, if it did. */
  throttledUntil: number | null;
}

/** Answers slower than this count as load. */
export const SLOW_RESPONSE_MS = 2000;
export const MAX_LOAD_FACTOR = 16;

/** 1 for a healthy server; doubles per failure in a row, grows with slowness; capped. */
export function serverLoadFactor(health: ServerHealth): number {
  const slowness = Math.max(1, health.responseMs / SLOW_RESPONSE_MS);
  const failures = 2 ** Math.min(health.failuresInRow, 4);
  return Math.min(MAX_LOAD_FACTOR, slowness * failures);
}

/** The delay once the server's load is applied: stretched, and never before a throttle ends. */
export function applyServerLoad(delayMs: number, health: ServerHealth | null, nowMs: number): number {
  if (!health) return delayMs;
  const stretched = Math.round(delayMs * serverLoadFactor(health));
  const throttleWait = health.throttledUntil ? Math.max(0, health.throttledUntil - nowMs) : 0;
  return Math.max(stretched, throttleWait);
}

/** Folds one observation into the server's health (exponential moving average for speed). */
export function observeServer(
  health: ServerHealth,
  sample: { responseMs?: number; connectionFailed: boolean; throttledForMs?: number },
  nowMs: number,
): ServerHealth {
  const responseMs =
    sample.responseMs === undefined ? health.responseMs : health.responseMs === 0 ? sample.responseMs : 0.7 * health.responseMs + 0.3 * sample.responseMs;
  return {
    responseMs,
    failuresInRow: sample.connectionFailed ? health.failuresInRow + 1 : 0,
    throttledUntil: sample.throttledForMs ? Math.max(health.throttledUntil ?? 0, nowMs + sample.throttledForMs) : health.throttledUntil,
  };
}
