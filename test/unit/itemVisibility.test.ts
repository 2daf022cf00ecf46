import { z } from 'zod';
import { itemCounts, readableReason } from '../../src/policy/itemVisibility';

const link = (crmId: string, state: 'synced' | 'tracked' | 'untracked' = 'synced') => ({ crmId, state });

describe('itemCounts', () => {
  it('counts covered records not linked yet as pending', () => {
    expect(itemCounts({ matching: ['a', 'b', 'c'], links: [link('a')], changedSinceCursor: [], failedCrmIds: [] })).toEqual({ linked: 1, pending: 2 });
  });

  it('counts linked records no longer covered, and linked records changed since the cursor, once each', () => {
    expect(itemCounts({ matching: ['a', 'b'], links: [link('a'), link('b'), link('gone')], changedSinceCursor: ['a', 'gone', 'gone'], failedCrmIds: [] })).toEqual({
      linked: 3,
      pending: 2,
    });
  });

  it('leaves untracked links out: not linked, not owed, and their records not owed again', () => {
    expect(itemCounts({ matching: ['a'], links: [link('a', 'untracked'), link('b', 'untracked')], changedSinceCursor: ['a', 'b'], failedCrmIds: [] })).toEqual({
      linked: 0,
      pending: 0,
    });
  });

  it('counts a failed record as failed, not pending', () => {
    expect(itemCounts({ matching: ['a', 'b'], links: [link('b', 'tracked')], changedSinceCursor: ['b'], failedCrmIds: ['a', 'b'] })).toEqual({ linked: 1, pending: 0 });
  });

  it('a changed record not linked here is owed only when covered', () => {
    expect(itemCounts({ matching: [], links: [], changedSinceCursor: ['x'], failedCrmIds: [] })).toEqual({ linked: 0, pending: 0 });
  });
});

describe('readableReason', () => {
  it("names each field of a validation error and its problem", () => {
    const parsed = z.object({ email: z.email(), fullName: z.string() }).safeParse({ email: 'not an address', fullName: 7 });
    expect(readableReason(parsed.error)).toBe('email: Invalid email address; fullName: Invalid input: expected string, received number');
  });

  it("is any other error's message", () => {
    expect(readableReason(new Error('Microsoft Graph answered HTTP 400'))).toBe('Microsoft Graph answered HTTP 400');
    expect(readableReason('text')).toBe('text');
  });
});
