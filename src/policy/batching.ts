/** How large a batch of messages (one commit) may grow. */
export interface BatchLimits {
  batchSize: number;
  batchMaxBytes: number;
}

/** A batch is full at `batchSize` messages, or once its messages reach `batchMaxBytes`. */
export function batchIsFull(messages: number, bytes: number, limits: BatchLimits): boolean {
  return messages >= limits.batchSize || bytes >= limits.batchMaxBytes;
}

/**
 * Cuts messages, in order, into batches by count and bytes; a message larger than the byte limit
 * makes a batch alone (never none: it has to be stored or refused somewhere).
 */
export function cutIntoBatches<T>(messages: T[], bytesOf: (message: T) => number, limits: BatchLimits): T[][] {
  const batches: T[][] = [];
  let open: T[] = [];
  let bytes = 0;
  for (const message of messages) {
    open.push(message);
    bytes += bytesOf(message);
    if (batchIsFull(open.length, bytes, limits)) {
      batches.push(open);
      open = [];
      bytes = 0;
    }
  }
  if (open.length > 0) batches.push(open);
  return batches;
}
