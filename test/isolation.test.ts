import { Worker } from '@temporalio/worker';
import { mailboxWorkflowId } from '../src/temporal/names';
import { createDataConverter } from '../src/temporal/dataConverter';
import { DovecotServer } from './support/dovecot';
import { makeMessage } from './support/messages';
import { CountingTcpProxy } from './support/tcpProxy';
import { dovecotProfile, eventually, TestBed } from './support/testBed';

const FLOOD = 2000;
const SYNC_LATENCY_BOUND_MS = 15_000;
// Flooded histories replayed to check determinism: enough to meet every interleaving seen, bounded in time.
const REPLAYED = 50;

let bed: TestBed;
let dovecot: DovecotServer;
let blackhole: CountingTcpProxy;

beforeAll(async () => {
  bed = await TestBed.create({ ASYNC_WORK_CONCURRENCY: '5' });
  dovecot = await DovecotServer.start();
  blackhole = await CountingTcpProxy.start(dovecot.host, dovecot.imapPort, { blackhole: true });
  await bed.startWorkers();
});

afterAll(async () => {
  await bed?.close();
  await blackhole?.close();
  await dovecot?.destroy();
});

it(`keeps mailbox sync cycles within ${SYNC_LATENCY_BOUND_MS / 1000} s while ${FLOOD} Test & Enable jobs are queued`, async () => {
  const slow = await bed.admin.createProfile({
    name: 'Slow to test',
    serverType: 'imap',
    incomingHost: blackhole.host,
    incomingPort: blackhole.port,
    incomingSecurity: 'none',
    connectionTimeoutSeconds: 1,
    maxConcurrentConnections: 65536,
  });
  const secret = bed.secrets.encrypt('x');
  const { rows } = await bed.pool.query<{ id: string }>(
    `INSERT INTO mailboxes (email_address, profile_id, credentials)
     SELECT 'flood' || g || '@example.test', $1, $2 FROM generate_series(1, $3) g RETURNING id`,
    [slow.id, secret, FLOOD],
  );
  const floodIds = rows.map((r) => r.id);

  const user = 'busy-sync@example.test';
  await dovecot.addUser(user, 'secret');
  const healthy = await bed.admin.createProfile(dovecotProfile('Healthy during the flood', dovecot));
  const mailbox = await bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId: healthy.id, password: 'secret' });
  const stored = async () =>
    (await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [mailbox.id]))[0].n;
  await eventually('the first cycle', async () => (await bed.admin.liveStatus(mailbox.id))?.state === 'idle');

  const phases: string[] = [];
  const started = Date.now();
  const phase = (name: string) => phases.push(`${name} at ${Math.round((Date.now() - started) / 1000)} s`);
  const queued = bed.admin.queueTestAndEnable(floodIds).finally(() => phase('all jobs queued'));
  const latencies: number[] = [];
  for (let n = 1; n <= 5; n++) {
    await dovecot.deliver(user, [makeMessage({ to: user, subject: `During the flood ${n}` })]);
    const t0 = Date.now();
    await bed.admin.syncNow(mailbox.id);
    await eventually(`message ${n} during the flood`, async () => (await stored()) === n, SYNC_LATENCY_BOUND_MS, 50);
    latencies.push(Date.now() - t0);
  }
  phase('five messages synced');
  await queued;

  // The flood was real: most jobs were still waiting on their queue when sync had finished.
  const [{ tested }] = await bed.query<{ tested: number }>(
    `SELECT count(*)::int AS tested FROM mailboxes WHERE profile_id = $1 AND incoming_tested_at IS NOT NULL`,
    [slow.id],
  );
  expect(tested).toBeLessThan(FLOOD / 2);
  expect(Math.max(...latencies)).toBeLessThan(SYNC_LATENCY_BOUND_MS);
  console.log(`sync latency during a flood of ${FLOOD} Test & Enable jobs: ${latencies.join(', ')} ms; jobs done by then: ${tested}`);

  // The flooded workflows were evicted from the worker's cache and replayed: each history must replay
  // to the same commands (Test & Enable's local activities ran beside the main loop's).
  const histories = floodIds.slice(0, REPLAYED).map((id) => ({ workflowId: mailboxWorkflowId(id), history: bed.temporal.workflow.getHandle(mailboxWorkflowId(id)).fetchHistory() }));
  const replayed: string[] = [];
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { codePath: process.env.WORKFLOW_BUNDLE_PATH! }, dataConverter: createDataConverter(bed.env.SECRET_KEYS) },
    (async function* () {
      for (const h of histories) yield { workflowId: h.workflowId, history: await h.history };
    })(),
  )) {
    replayed.push(result.error ? `${result.workflowId}: ${result.error.message}` : 'ok');
  }
  phase(`${REPLAYED} histories replayed`);
  console.log(`isolation test phases: ${phases.join('; ')}`);
  expect(replayed.filter((r) => r !== 'ok')).toEqual([]);
  expect(replayed).toHaveLength(REPLAYED);
}, 900_000);
