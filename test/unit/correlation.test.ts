import { correlate, countsAsReply, type CorrelationCandidate, type IncomingCorrelationFacts } from '../../src/policy/correlation';

const day = 24 * 3600 * 1000;
const now = new Date('2026-06-01T12:00:00Z');
const ago = (days: number) => new Date(now.getTime() - days * day);

function candidate(id: string, extra: Partial<CorrelationCandidate> = {}): CorrelationCandidate {
  return {
    activityId: id,
    conversationId: `conv-${id}`,
    regarding: { type: 'account', id: `acc-${id}` },
    messageId: `<${id}@crm.test>`,
    trackingToken: null,
    normalisedSubject: 'quote',
    participants: ['alice@crm.test', 'bob@customer.test'],
    at: ago(1),
    ...extra,
  };
}

function incoming(extra: Partial<IncomingCorrelationFacts> = {}): IncomingCorrelationFacts {
  return {
    messageId: '<new@customer.test>',
    subject: 'RE: Quote',
    inReplyTo: null,
    references: [],
    tokens: [],
    normalisedSubject: 'quote',
    participants: ['bob@customer.test', 'alice@crm.test'],
    ownAddresses: ['alice@crm.test'],
    at: now,
    ...extra,
  };
}

const off = { smartMatching: false, correlateForwards: false };
const smart = { smartMatching: true, correlateForwards: false };

describe('correlate', () => {
  it.each([
    {
      what: 'In-Reply-To names a held message',
      facts: incoming({ inReplyTo: '<a@crm.test>' }),
      candidates: [candidate('a'), candidate('b', { trackingToken: 'CRM:0001001' })],
      settings: off,
      expected: { method: 'in_reply_to', activityId: 'a' },
    },
    {
      what: 'In-Reply-To is unknown: the latest of References that is held',
      facts: incoming({ inReplyTo: '<gone@x>', references: ['<a@crm.test>', '<b@crm.test>', '<gone@x>'] }),
      candidates: [candidate('a'), candidate('b')],
      settings: off,
      expected: { method: 'in_reply_to', activityId: 'b' },
    },
    {
      what: 'headers come before a token that points elsewhere',
      facts: incoming({ inReplyTo: '<a@crm.test>', tokens: ['CRM:0001001'] }),
      candidates: [candidate('a'), candidate('b', { trackingToken: 'CRM:0001001', at: ago(0.5) })],
      settings: off,
      expected: { method: 'in_reply_to', activityId: 'a' },
    },
    {
      what: 'headers dropped: the token, with a shared participant',
      facts: incoming({ tokens: ['CRM:0001001'], participants: ['bob@customer.test', 'someone@else.test'] }),
      candidates: [candidate('a', { trackingToken: 'CRM:0001001' })],
      settings: off,
      expected: { method: 'tracking_token', activityId: 'a' },
    },
    {
      what: 'a wrapped counter: a late answer to the old email is not taken into the newer one with the same token',
      facts: incoming({ tokens: ['CRM:0001000'], participants: ['carol@customer.test', 'alice@crm.test'] }),
      candidates: [
        candidate('old', { trackingToken: 'CRM:0001000', participants: ['alice@crm.test', 'carol@customer.test'], at: ago(400) }),
        candidate('new', { trackingToken: 'CRM:0001000', participants: ['alice@crm.test', 'dave@other.test'], at: ago(3) }),
      ],
      settings: off,
      expected: { method: 'tracking_token', activityId: 'old' },
    },
    {
      what: 'a wrapped counter: the answer to the newer email goes to the newer one',
      facts: incoming({ tokens: ['CRM:0001000'], participants: ['dave@other.test', 'alice@crm.test'] }),
      candidates: [
        candidate('old', { trackingToken: 'CRM:0001000', participants: ['alice@crm.test', 'carol@customer.test'], at: ago(400) }),
        candidate('new', { trackingToken: 'CRM:0001000', participants: ['alice@crm.test', 'dave@other.test'], at: ago(3) }),
      ],
      settings: off,
      expected: { method: 'tracking_token', activityId: 'new' },
    },
    {
      what: 'a token whose emails share only the CRM side (the token owner) with it: nothing',
      facts: incoming({ tokens: ['CRM:0001000'], participants: ['erin@other.test', 'alice@crm.test'] }),
      candidates: [candidate('new', { trackingToken: 'CRM:0001000', participants: ['alice@crm.test', 'dave@other.test'] })],
      settings: off,
      expected: null,
    },
    {
      what: 'a token none of whose emails share a participant: nothing',
      facts: incoming({ tokens: ['CRM:0001000'], participants: ['dave@other.test', 'erin@other.test'] }),
      candidates: [candidate('old', { trackingToken: 'CRM:0001000', participants: ['alice@crm.test', 'carol@customer.test'] })],
      settings: off,
      expected: null,
    },
    {
      what: 'several emails with the token share participants: the most recent',
      facts: incoming({ tokens: ['CRM:0001001'] }),
      candidates: [candidate('a', { trackingToken: 'CRM:0001001', at: ago(10) }), candidate('b', { trackingToken: 'CRM:0001001', at: ago(2) })],
      settings: off,
      expected: { method: 'tracking_token', activityId: 'b' },
    },
    {
      what: 'smart matching off: a same-subject email is not a match',
      facts: incoming(),
      candidates: [candidate('a')],
      settings: off,
      expected: null,
    },
    {
      what: 'smart matching on: same subject, two shared addresses',
      facts: incoming(),
      candidates: [candidate('a', { at: ago(20) }), candidate('b', { at: ago(5) })],
      settings: smart,
      expected: { method: 'smart_matching', activityId: 'b' },
    },
    {
      what: 'smart matching on: one shared address is not enough',
      facts: incoming({ participants: ['bob@customer.test', 'zed@x.test'] }),
      candidates: [candidate('a')],
      settings: smart,
      expected: null,
    },
    {
      what: 'smart matching on: another subject',
      facts: incoming({ normalisedSubject: 'invoice' }),
      candidates: [candidate('a')],
      settings: smart,
      expected: null,
    },
    {
      what: 'smart matching on: older than 90 days',
      facts: incoming(),
      candidates: [candidate('a', { at: ago(91) })],
      settings: smart,
      expected: null,
    },
    {
      what: 'a forward with In-Reply-To: its own conversation',
      facts: incoming({ subject: 'Fw: Quote', inReplyTo: '<a@crm.test>', tokens: ['CRM:0001001'] }),
      candidates: [candidate('a', { trackingToken: 'CRM:0001001' })],
      settings: smart,
      expected: null,
    },
    {
      what: 'a forward, forwards correlated',
      facts: incoming({ subject: 'Fw: Quote', inReplyTo: '<a@crm.test>' }),
      candidates: [candidate('a')],
      settings: { smartMatching: false, correlateForwards: true },
      expected: { method: 'in_reply_to', activityId: 'a' },
    },
    {
      what: 'the message itself, held already, is not its own ancestor',
      facts: incoming({ messageId: '<a@crm.test>', inReplyTo: '<a@crm.test>' }),
      candidates: [candidate('a')],
      settings: off,
      expected: null,
    },
  ])('$what', ({ facts, candidates, settings, expected }) => {
    const found = correlate(facts, candidates, settings);
    if (expected === null) expect(found).toBeNull();
    else {
      expect(found).toMatchObject(expected);
      expect(found!.conversationId).toBe(`conv-${expected.activityId}`);
      expect(found!.regarding).toEqual({ type: 'account', id: `acc-${expected.activityId}` });
    }
  });
});

describe('countsAsReply', () => {
  it.each([
    ['in_reply_to', true],
    ['tracking_token', true],
    ['smart_matching', false],
  ] as const)('%s -> %s', (method, counts) => {
    expect(countsAsReply({ method, activityId: 'a', conversationId: 'a', regarding: null })).toBe(counts);
  });

  it('no correlation is no reply', () => {
    expect(countsAsReply(null)).toBe(false);
  });
});
