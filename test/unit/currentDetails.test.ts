import { currentDetails } from '../../workflows/currentDetails';

describe("the workflow's current details in Temporal UI", () => {
  it('names the mailbox, its owner, state, last error and next sync', () => {
    expect(
      currentDetails({
        emailAddress: 'anna@example.test',
        ownerName: 'Anna Smith',
        state: 'idle',
        lastError: null,
        nextSyncAt: '2026-12-01T05:00:00.000Z',
        retrying: null,
      }),
    ).toBe(['**anna@example.test** (owner: Anna Smith)', '- State: idle', '- Last error: none', '- Next sync: 2026-12-01T05:00:00.000Z'].join('\n'));
  });

  it('says why the sync activity is retried, and escapes what markdown would read as formatting', () => {
    const text = currentDetails({
      emailAddress: 'first_last@example.test',
      ownerName: null,
      state: 'retrying',
      lastError: 'Could not reach the mail server [host]\nsecond line',
      nextSyncAt: null,
      retrying: 'activity Heartbeat timeout',
    });
    expect(text).toBe(
      [
        '**first\\_last@example.test** (owner: none)',
        '- State: retrying',
        '- Last error: Could not reach the mail server \\[host\\] second line',
        '- Next sync: not planned',
        '- Sync activity retrying: activity Heartbeat timeout',
      ].join('\n'),
    );
  });
});
