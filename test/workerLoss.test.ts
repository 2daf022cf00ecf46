import { mailboxWorkflowId } from '../src/temporal/names';
import { DovecotServer } from './support/dovecot';
import { makeMessages } from './support/messages';
import { CountingTcpProxy } from './support/tcpProxy';
import { dovecotProfile, eventually, TestBed } from './support/testBed';
import { killHard, spawnWorker } from './support/workerProcess';

let bed: TestBed;
let dovecot: DovecotServer;
// A slow link to the server, so each worker is killed with most of the mailbox still to come
// however fast the machine is (on loopback a worker could store it all before its kill).
let link: CountingTcpProxy;

beforeAll(async () => {
  bed = await TestBed.create({ SYNC_BATCH_SIZE: '10', ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '3' });
  dovecot = await DovecotServer.start();
  link = await CountingTcpProxy.start(dovecot.host, dovecot.imapPort, { oneWayDelayMs: 10, bitsPerSecond: 400_000 });
});

afterAll(async () => {
  await bed?.close();
  await link?.close();
  await dovecot?.destroy();
});

/** The MailboxState values the workflow published in a history, in order. */
async function publishedStates(workflowId: string, runId: string): Promise<string[]> {
  const history = await bed.temporal.workflow.getHandle(workflowId, runId).fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const field = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.MailboxState;
    return field?.data ? [JSON.parse(Buffer.from(field.data).toString('utf8')) as string] : [];
  });
}

it('does not blame the mailbox for a worker killed during sync, more times than any attempt limit', async () => {
  // One more than the five attempts the activity used to be allowed.
  const kills = 6;
  const total = 800;
  const address = 'lost-worker@example.test';
  await dovecot.addUser(address, 'secret');
  await dovecot.deliver(address, makeMessages(total, { to: address }));
  const owner = await bed.admin.createUser({ fullName: 'Lost Worker Owner', email: 'lost-worker-owner@crm.test' });
  const { id: profileId } = await bed.admin.createProfile(dovecotProfile('Lost worker Dovecot', { host: link.host, imapPort: link.port }));
  const { id: mailboxId } = await bed.admin.createMailbox({ emailApproved: true, emailAddress: address, profileId, ownerUserId: owner.id, password: 'secret' });
  const stored = async () =>
    (await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [mailboxId]))[0].n;

  const workflowId = mailboxWorkflowId(mailboxId);
  const runs = new Set<string>();
  for (let i = 0; i < kills; i++) {
    const before = await stored();
    const worker = spawnWorker(bed.env);
    try {
      // A sync activity is running on this worker once more messages land.
      await eventually(`a sync under way on worker ${i + 1}`, async () => (await stored()) > before, 90_000);
      runs.add((await bed.temporal.workflow.getHandle(workflowId).describe()).runId);
    } finally {
      await killHard(worker);
    }
  }
  expect(await stored()).toBeLessThan(total);
  const [during] = await bed.query<{ incoming_enabled: boolean; consecutive_errors: number; last_error: string | null }>(
    `SELECT incoming_enabled, consecutive_errors, last_error FROM mailboxes WHERE id = $1`,
    [mailboxId],
  );
  expect(during).toEqual({ incoming_enabled: true, consecutive_errors: 0, last_error: null });

  const last = spawnWorker(bed.env);
  try {
    await eventually('the whole mailbox stored', async () => (await stored()) === total, 180_000);
    await eventually('the cycle recorded', async () => (await bed.admin.getMailbox(mailboxId)).incoming.status === 'success');
  } finally {
    last.kill('SIGTERM');
  }
  const [row] = await bed.query<{ incoming_enabled: boolean; consecutive_errors: number; own_errors_in_row: number }>(
    `SELECT incoming_enabled, consecutive_errors, own_errors_in_row FROM mailboxes WHERE id = $1`,
    [mailboxId],
  );
  expect(row).toEqual({ incoming_enabled: true, consecutive_errors: 0, own_errors_in_row: 0 });
  const [{ failures }] = await bed.query<{ failures: number }>(`SELECT count(*)::int AS failures FROM sync_errors WHERE mailbox_id = $1`, [mailboxId]);
  expect(failures).toBe(0);
  expect(await bed.admin.listAlerts({ status: 'all' }, owner.id)).toEqual([]);
  expect(await bed.admin.listAlerts({ mailboxId, status: 'all' })).toEqual([]);
  // While attempts were lost the workflow said so: it published the `retrying` state.
  const states = (await Promise.all([...runs].map((runId) => publishedStates(workflowId, runId)))).flat();
  expect(states).toContain('retrying');
}, 420_000);
