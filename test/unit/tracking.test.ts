import { shouldTrack } from '../../src/policy/tracking';

describe('shouldTrack', () => {
  const from = (senderRecordType: 'user' | 'contact' | 'account' | 'lead' | null, repliesToTrackedEmail = false) => ({
    senderRecordType,
    repliesToTrackedEmail,
  });

  it('"all" tracks every message', () => {
    expect(shouldTrack('all', from(null))).toBe(true);
  });

  it('"crm_records" tracks messages from leads, contacts and accounts only', () => {
    expect(shouldTrack('crm_records', from('contact'))).toBe(true);
    expect(shouldTrack('crm_records', from('lead'))).toBe(true);
    expect(shouldTrack('crm_records', from('account'))).toBe(true);
    expect(shouldTrack('crm_records', from('user'))).toBe(false);
    expect(shouldTrack('crm_records', from(null))).toBe(false);
  });

  it('"replies_to_crm" tracks answers to tracked messages only', () => {
    expect(shouldTrack('replies_to_crm', from(null, true))).toBe(true);
    expect(shouldTrack('replies_to_crm', from('contact', false))).toBe(false);
  });
});
