import {
  findTrackingTokens,
  formatTrackingToken,
  isForwardSubject,
  nextTrackingCounter,
  normaliseSubject,
  stripTrackingTokens,
  trackingTokenPrefixProblem,
  withTrackingToken,
} from '../../src/policy/trackingToken';

const defaults = { prefix: 'CRM', baseNumber: 0, userDigits: 3, counterDigits: 3 };

describe('formatTrackingToken', () => {
  it.each([
    { settings: defaults, owner: 1, counter: 1, token: 'CRM:0001001' },
    { settings: defaults, owner: 42, counter: 7, token: 'CRM:0042007' },
    { settings: defaults, owner: 1, counter: 0, token: 'CRM:0001000' },
    { settings: { ...defaults, baseNumber: 500000 }, owner: 1, counter: 1, token: 'CRM:0501001' },
    { settings: { ...defaults, userDigits: 1, counterDigits: 2, prefix: 'ACME' }, owner: 3, counter: 45, token: 'ACME:0345' },
    // Owner numbers past the digits wrap, like counters.
    { settings: defaults, owner: 1001, counter: 1, token: 'CRM:0001001' },
  ])('$settings.prefix base $settings.baseNumber, owner $owner, counter $counter -> $token', ({ settings, owner, counter, token }) => {
    expect(formatTrackingToken(settings, owner, counter)).toBe(token);
  });
});

describe('nextTrackingCounter', () => {
  it.each([
    [0, 3, 1],
    [998, 3, 999],
    [999, 3, 0],
    [9, 1, 0],
    [999_999_999, 9, 0],
  ])('%i with %i digits -> %i', (counter, digits, next) => {
    expect(nextTrackingCounter(counter, digits)).toBe(next);
  });
});

describe('withTrackingToken', () => {
  it.each([
    { subject: 'Quote', max: 255, expected: 'Quote CRM:0001001' },
    { subject: null, max: 255, expected: 'CRM:0001001' },
    { subject: '', max: 255, expected: 'CRM:0001001' },
    // A reply to a tracked email: the old token of the prefix gives way to the new one.
    { subject: 'RE: Quote CRM:0001001', max: 255, expected: 'RE: Quote CRM:0001002', token: 'CRM:0001002' },
    { subject: 'abcdefghij', max: 16, expected: 'abcd CRM:0001001' },
    { subject: 'abc defghij', max: 16, expected: 'abc CRM:0001001' },
    { subject: 'abc', max: 11, expected: 'CRM:0001001' },
    // A token longer than the limit is dropped; the subject is cut to the limit.
    { subject: 'abcdefghij', max: 8, expected: 'abcdefgh' },
    // Characters, not UTF-16 units: an emoji is not split.
    { subject: '😀😀😀😀', max: 14, expected: '😀😀 CRM:0001001' },
  ])('$subject in $max characters -> $expected', ({ subject, max, expected, token }) => {
    expect(withTrackingToken(subject, token ?? 'CRM:0001001', max)).toBe(expected);
  });
});

describe('findTrackingTokens and stripTrackingTokens', () => {
  it.each([
    { subject: 'RE: Quote CRM:0001001', prefixes: ['CRM'], tokens: ['CRM:0001001'] },
    { subject: 'RE: Quote crm:0001001', prefixes: ['CRM'], tokens: ['CRM:0001001'] },
    { subject: 'Two CRM:0001001 and ACME:0002003 and CRM:0001001', prefixes: ['CRM', 'ACME'], tokens: ['CRM:0001001', 'ACME:0002003'] },
    { subject: 'XCRM:0001001 or CRM:0001001x or CRM:', prefixes: ['CRM'], tokens: [] },
    { subject: 'Price [T.1]:12', prefixes: ['[T.1]'], tokens: ['[T.1]:12'] },
    { subject: null, prefixes: ['CRM'], tokens: [] },
    { subject: 'CRM:0001001', prefixes: [], tokens: [] },
  ])('$subject', ({ subject, prefixes, tokens }) => {
    expect(findTrackingTokens(subject, prefixes)).toEqual(tokens);
  });

  it('strips the tokens and tidies the spaces', () => {
    expect(stripTrackingTokens('RE: Quote  CRM:0001001 for you', ['CRM'])).toBe('RE: Quote for you');
  });
});

describe('normaliseSubject', () => {
  it.each([
    ['Quote', 'quote'],
    ['RE: Quote', 'quote'],
    ['Re: Fwd:  Quote CRM:0001001', 'quote'],
    ['AW: WG: SV: Antw: Quote', 'quote'],
    ['Réf : Devis', 'devis'],
    ['Quote: the new one', 'the new one'],
    ['Project X: plan', 'project x: plan'],
    ['RE:', null],
    [null, null],
  ])('%s -> %s', (subject, normalised) => {
    expect(normaliseSubject(subject, ['CRM'])).toBe(normalised);
  });
});

describe('isForwardSubject', () => {
  it.each([
    ['Fw: Quote', true],
    ['FWD: Quote', true],
    ['WG: Angebot', true],
    ['TR: Devis', true],
    ['RV: Oferta', true],
    ['Fw: Re: Quote', true],
    ['Re: Fw: Quote', false],
    ['Re: Quote', false],
    ['Forward planning', false],
    [null, false],
  ])('%s -> %s', (subject, forward) => {
    expect(isForwardSubject(subject)).toBe(forward);
  });
});

describe('trackingTokenPrefixProblem', () => {
  it.each([
    ['CRM', null],
    ['A'.repeat(20), null],
    ['', /1 to 20/],
    ['A'.repeat(21), /1 to 20/],
    ['MY CRM', /spaces or colons/],
    ['CRM:', /spaces or colons/],
  ])('%s', (prefix, problem) => {
    const found = trackingTokenPrefixProblem(prefix);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toMatch(problem);
  });
});
