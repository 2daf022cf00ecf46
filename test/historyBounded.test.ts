import { mailboxWorkflowId } from '../src/temporal/names';
import { statusQuery } from '../workflows';
import { dovecotProfile, eventually, useBedWithDovecot } from './support/testBed';

const t = useBedWithDovecot({
  SYNC_CYCLES_PER_RUN: '5',
  SYNC_DEFAULT_INTERVAL_SECONDS: '0.1',
  SYNC_MAX_IDLE_INTERVAL_SECONDS: '0.2',
});

it('continues as new so that a mailbox workflow history stays bounded over many cycles', async () => {
  const user = 'loop@example.test';
  await t.dovecot.addUser(user, 'secret');
  const { id: profileId } = await t.bed.admin.createProfile(dovecotProfile('Loop Dovecot', t.dovecot));
  const { id: mailboxId } = await t.bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId, password: 'secret' });
  const workflowId = mailboxWorkflowId(mailboxId);
  const firstRunId = (await t.bed.temporal.workflow.getHandle(workflowId).describe()).runId;

  // 40 cycles: 8 runs of 5 cycles each.
  const runs = new Set<string>([firstRunId]);
  await eventually('40 cycles', async () => {
    const d = await t.bed.temporal.workflow.getHandle(workflowId).describe();
    runs.add(d.runId);
    return runs.size >= 8;
  }, 120_000);

  let longest = 0;
  for (const runId of runs) {
    const history = await t.bed.temporal.workflow.getHandle(workflowId, runId).fetchHistory();
    longest = Math.max(longest, history.events?.length ?? 0);
  }
  // 5 cycles of a handful of events each: far below Temporal's limits, whatever the number of cycles.
  expect(longest).toBeLessThan(150);
  const status = await t.bed.temporal.workflow.getHandle(workflowId).query(statusQuery);
  expect(status.state === 'idle' || status.state === 'syncing').toBe(true);
  // Seven runs of 5 had ended when the eighth was seen: 35 steps, one of them the first run's look
  // at the outbox (it counts towards a run's length), the other 34 idle sync cycles.
  expect(status.activity.idleCycles).toBeGreaterThanOrEqual(34);
});
