import { syncNowRefusal, type SyncNowFacts } from '../../src/policy/syncNow';

const ID = '0f5b8f0e-7f55-4b9e-9d8c-0d6d1b9b2a11';
const enabled: SyncNowFacts = { incomingEnabled: true, disabledByFailure: false, awaitingApproval: false, lastError: null };

describe('sync now', () => {
  it('runs for an enabled, approved mailbox, also one backing off from errors', () => {
    expect(syncNowRefusal(enabled, ID)).toBeNull();
    expect(syncNowRefusal({ ...enabled, lastError: 'Could not reach the mail server' }, ID)).toBeNull();
  });

  it('refuses a mailbox disabled by a failure, quoting it and naming Test & Enable', () => {
    const refusal = syncNowRefusal({ ...enabled, incomingEnabled: false, disabledByFailure: true, lastError: 'Authentication failed' }, ID);
    expect(refusal).toEqual({ reason: 'disabled_by_failure', message: expect.stringContaining('disabled after an error: Authentication failed') });
    expect(refusal!.message).toContain(`POST /mailboxes/${ID}/test-and-enable`);
    expect(refusal!.message).toContain(`mailbox test-and-enable ${ID}`);
  });

  it('refuses a mailbox an admin disabled, naming Test & Enable', () => {
    const refusal = syncNowRefusal({ ...enabled, incomingEnabled: false }, ID);
    expect(refusal).toEqual({ reason: 'disabled', message: expect.stringContaining('is disabled') });
    expect(refusal!.message).toContain('test-and-enable');
  });

  it('refuses a mailbox awaiting approval, naming the approval', () => {
    const refusal = syncNowRefusal({ ...enabled, awaitingApproval: true }, ID);
    expect(refusal).toEqual({ reason: 'awaiting_approval', message: expect.stringContaining('not approved') });
    expect(refusal!.message).toContain(`mailbox approve ${ID}`);
  });

  it('names the disabled state before approval: enabling is the first step', () => {
    expect(syncNowRefusal({ ...enabled, incomingEnabled: false, awaitingApproval: true }, ID)?.reason).toBe('disabled');
  });
});
