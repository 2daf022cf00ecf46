import { afterDeferral, decideSendFailure, nextSendWaitMs, partialDeliveryNote, sendRetryDelayMs } from '../../src/policy/outgoingSend';

const smtpError = (fields: Record<string, unknown>) => Object.assign(new Error(String(fields.response ?? 'failed')), fields);

describe('decideSendFailure', () => {
  it.each([
    ['a 4xx reply defers', { responseCode: 451, response: '451 4.3.0 Try again later' }, false, 'defer'],
    ['a 5xx reply rejects', { responseCode: 554, response: '554 5.7.1 Message refused' }, false, 'reject'],
    ['refused credentials disable', { code: 'EAUTH', responseCode: 535, response: '535 5.7.8 Authentication failed' }, false, 'disable'],
    ['a 4xx to AUTH is the server being unable now', { code: 'EAUTH', responseCode: 454, response: '454 4.7.0 Temporary failure' }, false, 'unreachable'],
    ['a refused connection is unreachable', { code: 'ESOCKET', errno: -111 }, false, 'unreachable'],
    ['a connection lost without a reply is unreachable', { code: 'ECONNECTION' }, true, 'unreachable'],
  ])('%s', (_, fields, transferStarted, kind) => {
    expect(decideSendFailure(smtpError(fields), transferStarted).kind).toBe(kind);
  });

  it('fails an email every recipient of which is refused for good, naming the reasons', () => {
    const decision = decideSendFailure(
      smtpError({
        code: 'EENVELOPE',
        responseCode: 550,
        rejectedErrors: [smtpError({ responseCode: 550, response: '550 5.1.1 <nobody@example.test>: Recipient address rejected' })],
      }),
      false,
    );
    expect(decision).toEqual({ kind: 'reject', reason: expect.stringContaining('550 5.1.1 <nobody@example.test>: Recipient address rejected') });
  });

  it('defers when any refused recipient was refused only for now', () => {
    const decision = decideSendFailure(
      smtpError({
        code: 'EENVELOPE',
        responseCode: 550,
        rejectedErrors: [smtpError({ responseCode: 550, response: '550 no' }), smtpError({ responseCode: 450, response: '450 busy' })],
      }),
      false,
    );
    expect(decision.kind).toBe('defer');
  });

  it('says a lost connection may have delivered the email only once the transfer had started', () => {
    expect(decideSendFailure(smtpError({ code: 'ECONNECTION' }), true)).toMatchObject({ mayHaveBeenAccepted: true });
    expect(decideSendFailure(smtpError({ code: 'ECONNECTION' }), false)).toMatchObject({ mayHaveBeenAccepted: false });
  });
});

describe('retries of a deferred email', () => {
  const settings = { firstRetryMs: 60_000, maxRetryMs: 3_600_000 };

  it('doubles the wait from the first retry up to the maximum', () => {
    expect([1, 2, 3, 7, 8, 50].map((n) => sendRetryDelayMs(n, settings))).toEqual([60_000, 120_000, 240_000, 3_600_000, 3_600_000, 3_600_000]);
  });

  it('fails the email at its last attempt (default 10)', () => {
    expect(afterDeferral(9, 10, settings)).toEqual({ fail: false, retryInMs: sendRetryDelayMs(9, settings) });
    expect(afterDeferral(10, 10, settings)).toEqual({ fail: true });
  });
});

describe('partialDeliveryNote', () => {
  it('names each refused recipient with the reason, or nothing when all were accepted', () => {
    expect(partialDeliveryNote([])).toBeNull();
    expect(partialDeliveryNote([{ address: 'x@example.test', reason: '550 5.1.1\n no such user' }])).toBe('Not delivered to x@example.test (550 5.1.1 no such user)');
  });
});

describe('nextSendWaitMs', () => {
  const intervals = { errorBaseMs: 1000, errorMaxMs: 8000, sweepMs: 300_000, lostDelayMs: (n: number) => n * 111 };
  const now = 1_000_000;

  it('waits for the next deferred email, never less than a second and never past the sweep', () => {
    expect(nextSendWaitMs({ kind: 'done', nextDueAt: now + 5000 }, now, intervals)).toBe(5000);
    expect(nextSendWaitMs({ kind: 'done', nextDueAt: now - 5000 }, now, intervals)).toBe(1000);
    expect(nextSendWaitMs({ kind: 'done', nextDueAt: now + 10_000_000 }, now, intervals)).toBe(300_000);
    expect(nextSendWaitMs({ kind: 'done', nextDueAt: null }, now, intervals)).toBe(300_000);
  });

  it('backs off from an unreachable server, retries a lost attempt, and parks while outgoing is disabled', () => {
    expect([1, 2, 3, 4, 5].map((n) => nextSendWaitMs({ kind: 'unreachable', failuresInRow: n }, now, intervals))).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(nextSendWaitMs({ kind: 'lost', lostInRow: 3 }, now, intervals)).toBe(333);
    expect(nextSendWaitMs({ kind: 'disabled' }, now, intervals)).toBeNull();
    // Throttling waits what the server asked, never less than a second, and is no failure to back off from.
    expect(nextSendWaitMs({ kind: 'throttled', retryAfterMs: 12_000 }, now, intervals)).toBe(12_000);
    expect(nextSendWaitMs({ kind: 'throttled', retryAfterMs: 10 }, now, intervals)).toBe(1000);
    expect(nextSendWaitMs({ kind: 'throttled', retryAfterMs: null }, now, intervals)).toBe(1000);
  });
});
