import type { CrmRecordType } from '../../src/domain/email';
import { shouldTrack, TRACKING_OPTIONS, type TrackingOption } from '../../src/policy/tracking';

const SENDERS: (CrmRecordType | null)[] = ['user', 'queue', 'contact', 'account', 'lead', null];

// Which senders each option tracks when the message answers nothing the CRM holds, and when it does.
const EXPECTED: Record<TrackingOption, { notReply: (CrmRecordType | null)[]; reply: (CrmRecordType | null)[] }> = {
  all: { notReply: SENDERS, reply: SENDERS },
  replies_to_crm: { notReply: [], reply: SENDERS },
  crm_records: { notReply: ['contact', 'account', 'lead'], reply: ['contact', 'account', 'lead'] },
  email_enabled_records: { notReply: ['user', 'queue', 'contact', 'account', 'lead'], reply: ['user', 'queue', 'contact', 'account', 'lead'] },
  none: { notReply: [], reply: [] },
};

const table = TRACKING_OPTIONS.flatMap((option) =>
  SENDERS.flatMap((sender) =>
    [false, true].map((reply) => ({
      option,
      sender: sender ?? 'nothing',
      reply,
      tracked: EXPECTED[option][reply ? 'reply' : 'notReply'].includes(sender),
      facts: { senderRecordType: sender, repliesToCrmEmail: reply },
    })),
  ),
);

describe('shouldTrack', () => {
  it('covers the five options, six sender kinds and reply or not', () => {
    expect(TRACKING_OPTIONS).toHaveLength(5);
    expect(table).toHaveLength(5 * 6 * 2);
  });

  it.each(table)('$option, sender $sender, reply $reply -> $tracked', ({ option, facts, tracked }) => {
    expect(shouldTrack(option, facts)).toBe(tracked);
  });
});
