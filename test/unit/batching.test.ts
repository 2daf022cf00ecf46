import { batchIsFull, cutIntoBatches } from '../../src/policy/batching';

const limits = { batchSize: 3, batchMaxBytes: 100 };

describe('batchIsFull', () => {
  it('is full at the message count or at the bytes, whichever comes first', () => {
    expect(batchIsFull(2, 99, limits)).toBe(false);
    expect(batchIsFull(3, 10, limits)).toBe(true);
    expect(batchIsFull(1, 100, limits)).toBe(true);
  });
});

describe('cutIntoBatches', () => {
  it('cuts by count when the messages are small', () => {
    expect(cutIntoBatches([1, 2, 3, 4, 5, 6, 7], () => 1, limits)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('cuts by bytes when the messages are large, in order, a batch ending with the message that reaches the limit', () => {
    const sizes: Record<string, number> = { a: 40, b: 40, c: 40, d: 10, e: 90, f: 5 };
    expect(cutIntoBatches(Object.keys(sizes), (m) => sizes[m], limits)).toEqual([['a', 'b', 'c'], ['d', 'e'], ['f']]);
  });

  it('puts a message larger than the byte limit in a batch of its own, losing none', () => {
    const sizes: Record<string, number> = { a: 10, huge: 500, b: 10 };
    expect(cutIntoBatches(Object.keys(sizes), (m) => sizes[m], limits)).toEqual([['a', 'huge'], ['b']]);
  });

  it('makes no batch of nothing', () => {
    expect(cutIntoBatches([], () => 1, limits)).toEqual([]);
  });
});
