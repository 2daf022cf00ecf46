import { surelyBefore, toUidSet, uidRangeExcept } from '../../src/mail/imapMailSource';

describe('uidRangeExcept', () => {
  it('is the open range when nothing is excluded', () => {
    expect(uidRangeExcept(1, [])).toBe('1:*');
    expect(uidRangeExcept(501, [])).toBe('501:*');
  });

  it('leaves holes at the excluded UIDs, single UIDs and runs alike', () => {
    expect(uidRangeExcept(1, [5, 9])).toBe('1:4,6:8,10:*');
    expect(uidRangeExcept(1, [1, 2, 3, 7])).toBe('4:6,8:*');
    expect(uidRangeExcept(10, [11, 13])).toBe('10,12,14:*');
  });

  it('ignores exclusions below the start', () => {
    expect(uidRangeExcept(10, [3, 10, 12])).toBe('11,13:*');
  });
});

describe('toUidSet', () => {
  it('joins consecutive UIDs into ranges', () => {
    expect(toUidSet([1, 2, 3, 7, 9, 10])).toBe('1:3,7,9:10');
  });
});

describe('surelyBefore', () => {
  it('is UTC midnight of the day before, so what a server in any time zone finds BEFORE it arrived before `from`', () => {
    expect(surelyBefore(new Date('2026-03-10T15:30:00Z')).toISOString()).toBe('2026-03-09T00:00:00.000Z');
    expect(surelyBefore(new Date('2026-03-10T00:00:00Z')).toISOString()).toBe('2026-03-09T00:00:00.000Z');
    for (const from of ['2026-03-10T00:00:00Z', '2026-03-10T23:59:59Z', '2026-01-01T00:00:00Z']) {
      // A server at UTC-12, the latest time zone, ends that day 12 h after UTC midnight.
      const latestBeforeAnywhere = surelyBefore(new Date(from)).getTime() + 12 * 3600 * 1000;
      expect(latestBeforeAnywhere).toBeLessThanOrEqual(Date.parse(from));
    }
  });
});
