import type { CrmRecordType } from '../domain/email';

/**
 * A user's choice of which incoming messages become email activities, after Dynamics'
 * "Track" option.
 * - all: every message.
 * - crm_records: messages whose sender is a CRM lead, contact or account.
 * - replies_to_crm: messages that answer a message the CRM already tracks.
 */
export const TRACKING_OPTIONS = ['all', 'crm_records', 'replies_to_crm'] as const;
export type TrackingOption = (typeof TRACKING_OPTIONS)[number];

export interface TrackingFacts {
  /** What the sender's address resolved to in the CRM, if anything. */
  senderRecordType: CrmRecordType | null;
  /** The message's In-Reply-To or References names a tracked message. */
  repliesToTrackedEmail: boolean;
}

const CRM_RECORD_SENDERS: ReadonlySet<CrmRecordType> = new Set(['lead', 'contact', 'account']);

export function shouldTrack(option: TrackingOption, facts: TrackingFacts): boolean {
  switch (option) {
    case 'all':
      return true;
    case 'crm_records':
      return facts.senderRecordType !== null && CRM_RECORD_SENDERS.has(facts.senderRecordType);
    case 'replies_to_crm':
      return facts.repliesToTrackedEmail;
  }
}
