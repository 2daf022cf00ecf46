import { MAX_CONSECUTIVE_TRANSIENT_ERRORS } from '../../src/policy/errorClassification';
import {
  decideMailboxFailure,
  enabledAfterTest,
  mostMailboxesFailing,
  profileAudiences,
  serverUnreachable,
  type FailureFacts,
} from '../../src/policy/failurePolicy';

const transient: FailureFacts = { errorClass: 'transient', unreachable: false, ownErrorsInRow: 0, hasOwner: true };

describe('whose fault a failed sync is', () => {
  it('disables on a permanent failure and tells the owner and the admins in one alert', () => {
    expect(decideMailboxFailure({ ...transient, errorClass: 'permanent' })).toEqual({
      disable: true,
      ownErrorsInRow: 1,
      alert: { level: 'error', audiences: ['mailbox_owner', 'admins'] },
      suffix: '',
    });
  });

  it("warns on the first of the mailbox's own transient failures, and disables at the limit", () => {
    expect(decideMailboxFailure(transient)).toMatchObject({ disable: false, ownErrorsInRow: 1, alert: { level: 'warning', audiences: ['mailbox_owner'] } });
    const atLimit = decideMailboxFailure({ ...transient, ownErrorsInRow: MAX_CONSECUTIVE_TRANSIENT_ERRORS - 1 });
    expect(atLimit).toMatchObject({ disable: true, ownErrorsInRow: MAX_CONSECUTIVE_TRANSIENT_ERRORS, alert: { level: 'error' } });
    expect(atLimit.suffix).toBe(` (${MAX_CONSECUTIVE_TRANSIENT_ERRORS} failures in a row; sync disabled)`);
  });

  it('never addresses an owner a mailbox does not have', () => {
    expect(decideMailboxFailure({ ...transient, hasOwner: false }).alert?.audiences).toEqual(['admins']);
    expect(decideMailboxFailure({ ...transient, errorClass: 'permanent', hasOwner: false }).alert?.audiences).toEqual(['admins']);
  });

  it('never disables nor alerts the owner when the server cannot be reached, however long', () => {
    for (const ownErrorsInRow of [0, 3, 50]) {
      expect(decideMailboxFailure({ ...transient, unreachable: true, ownErrorsInRow })).toEqual({
        disable: false,
        ownErrorsInRow,
        alert: null,
        suffix: '',
      });
    }
  });
});

describe('the server, not a mailbox', () => {
  it('is unreachable once more connection failures came in a row than half its mailboxes, and never on one', () => {
    expect(serverUnreachable({ failuresInRow: 1, enabledMailboxes: 1 })).toBe(false);
    expect(serverUnreachable({ failuresInRow: 2, enabledMailboxes: 1 })).toBe(true);
    expect(serverUnreachable({ failuresInRow: 5, enabledMailboxes: 10 })).toBe(false);
    expect(serverUnreachable({ failuresInRow: 6, enabledMailboxes: 10 })).toBe(true);
    expect(serverUnreachable({ failuresInRow: 2, enabledMailboxes: 0 })).toBe(true);
  });

  it("tells the admins, and the profile's owner only when it has one", () => {
    expect(profileAudiences(null)).toEqual(['admins']);
    expect(profileAudiences('00000000-0000-4000-8000-000000000001')).toEqual(['admins', 'profile_owner']);
  });

  it('calls more than half failing "most"', () => {
    expect(mostMailboxesFailing({ failing: 1, total: 3 })).toBe(false);
    expect(mostMailboxesFailing({ failing: 2, total: 4 })).toBe(false);
    expect(mostMailboxesFailing({ failing: 2, total: 3 })).toBe(true);
  });

  it('leaves a lone failing mailbox to its own alert', () => {
    expect(mostMailboxesFailing({ failing: 1, total: 1 })).toBe(false);
    expect(mostMailboxesFailing({ failing: 2, total: 2 })).toBe(true);
  });
});

describe('Test & Enable', () => {
  const enabled = { enabled: true, approved: true };
  it('enables on success, approval permitting', () => {
    expect(enabledAfterTest({ status: 'success' }, { enabled: false, approved: true })).toBe(true);
    expect(enabledAfterTest({ status: 'success' }, { enabled: false, approved: false })).toBe(false);
  });

  it('leaves a direction as it was on a transient failure', () => {
    expect(enabledAfterTest({ status: 'failure', errorClass: 'transient' }, enabled)).toBe(true);
    expect(enabledAfterTest({ status: 'failure', errorClass: 'transient' }, { enabled: false, approved: true })).toBe(false);
  });

  it('disables on a permanent failure, and when the direction cannot be tested', () => {
    expect(enabledAfterTest({ status: 'failure', errorClass: 'permanent' }, enabled)).toBe(false);
    expect(enabledAfterTest({ status: 'failure' }, enabled)).toBe(false);
    expect(enabledAfterTest({ status: 'not_run' }, enabled)).toBe(false);
  });
});
