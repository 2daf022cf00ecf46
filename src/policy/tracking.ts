import type { CrmRecordType } from '../domain/email';

/**
 * Which incoming messages of a mailbox become email activities: Dynamics' "Track" option, per user
 * and per queue; the organisation sets new users' default.
 * - all: every message.
 * - replies_to_crm: messages that answer an email the CRM holds (Dynamics' default).
 * - crm_records: messages whose sender is a CRM lead, contact or account.
 * - email_enabled_records: messages whose sender is any CRM record with an address: a user, a
 *   queue, a contact, an account or a lead.
 * - none: nothing.
 */
export const TRACKING_OPTIONS = ['all', 'replies_to_crm', 'crm_records', 'email_enabled_records', 'none'] as const;
export type TrackingOption = (typeof TRACKING_OPTIONS)[number];

export interface TrackingFacts {
  /** What the sender's address resolved to in the CRM, if anything. */
  senderRecordType: CrmRecordType | null;
  /**
   * The message answers an email the CRM holds: its In-Reply-To or References names one, or its
   * subject carries the token of one it shares a participant with (see src/policy/correlation.ts,
   * `countsAsReply`). Smart matching does not count: it guesses, and a guess must not pull mail in.
   * A forward is not an answer unless the organisation correlates forwards.
   */
  repliesToCrmEmail: boolean;
}

const CRM_RECORD_SENDERS: ReadonlySet<CrmRecordType> = new Set(['lead', 'contact', 'account']);
const EMAIL_ENABLED_SENDERS: ReadonlySet<CrmRecordType> = new Set(['user', 'queue', 'contact', 'account', 'lead']);

export function shouldTrack(option: TrackingOption, facts: TrackingFacts): boolean {
  switch (option) {
    case 'all':
      return true;
    case 'replies_to_crm':
      return facts.repliesToCrmEmail;
    case 'crm_records':
      return facts.senderRecordType !== null && CRM_RECORD_SENDERS.has(facts.senderRecordType);
    case 'email_enabled_records':
      return facts.senderRecordType !== null && EMAIL_ENABLED_SENDERS.has(facts.senderRecordType);
    case 'none':
      return false;
  }
}
