/**
 * npm run bench:scale — N parked mailbox workflows (default 10,000) plus a few active ones on ONE
 * worker process: its resident memory, the latency of a workflow task on a parked (evicted)
 * workflow, and the sync cycles per minute the active mailboxes get meanwhile.
 */
import { readFileSync } from 'node:fs';
import { runBenchmark } from './run';
import { mailboxWorkflowId, taskQueues } from '../../src/temporal/names';
import { MailboxIdAttribute } from '../../src/temporal/searchAttributes';
import { disableUpdate, mailboxSyncWorkflow, statusQuery } from '../../workflows';
import { DovecotServer } from '../support/dovecot';
import { eventually, TestBed } from '../support/testBed';
import { killHard, spawnWorker } from '../support/workerProcess';

const N = Number(process.env.BENCH_SCALE_N ?? 10_000);
const ACTIVE = Number(process.env.BENCH_SCALE_ACTIVE ?? 50);
const WINDOW_S = Number(process.env.BENCH_SCALE_SECONDS ?? 60);

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.replace(/\D+/g, '')) / 1024;
}

async function inParallel<T>(items: T[], parallel: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main(): Promise<void> {
  const dovecot = await DovecotServer.start({ name: 'scale' });
  const bed = await TestBed.create({ SYNC_DEFAULT_INTERVAL_SECONDS: '5', SYNC_MAX_IDLE_INTERVAL_SECONDS: '5', SYNC_CYCLES_PER_RUN: '1000' });
  const worker = spawnWorker(bed.env);
  try {
    const profile = await bed.admin.createProfile({
      name: 'Scale Dovecot',
      serverType: 'imap',
      incomingHost: dovecot.host,
      incomingPort: dovecot.imapPort,
      incomingSecurity: 'none',
      minPollingIntervalSeconds: 1,
    });
    const secret = bed.secrets.encrypt('secret');
    // Parked: incoming sync disabled, as for mailboxes an admin has not enabled yet.
    const parked = (
      await bed.pool.query<{ id: string }>(
        `INSERT INTO mailboxes (email_address, profile_id, credentials, email_approved)
         SELECT 'parked' || g || '@example.test', $1, $2, true FROM generate_series(1, $3) g RETURNING id`,
        [profile.id, secret, N],
      )
    ).rows.map((r) => r.id);
    const users = Array.from({ length: ACTIVE }, (_, i) => ({ user: `active${i}@example.test`, password: 'secret' }));
    await dovecot.addUsers(users);
    const active = (
      await bed.pool.query<{ id: string }>(
        `INSERT INTO mailboxes (email_address, profile_id, credentials, email_approved, incoming_enabled)
         SELECT u, $1, $2, true, true FROM unnest($3::text[]) u RETURNING id`,
        [profile.id, secret, users.map((u) => u.user)],
      )
    ).rows.map((r) => r.id);

    await eventually('the worker', async () => rssMb(worker.pid!) > 0 && (await bed.query(`SELECT 1`)).length === 1);
    const rssIdle = rssMb(worker.pid!);
    console.log(`Starting ${N} parked and ${ACTIVE} active mailbox workflows...`);
    const t0 = Date.now();
    await inParallel([...parked, ...active], 64, async (mailboxId) => {
      await bed.temporal.workflow.start(mailboxSyncWorkflow, {
        workflowId: mailboxWorkflowId(mailboxId),
        taskQueue: taskQueues(bed.config.temporal.taskQueuePrefix).mailboxSync,
        args: [{ mailboxId }],
        typedSearchAttributes: [{ key: MailboxIdAttribute, value: mailboxId }],
      });
    });
    const startSeconds = (Date.now() - t0) / 1000;
    const query = `ServerProfileId = "${profile.id}" AND MailboxState = "disabled"`;
    await eventually(`${N} workflows parked`, async () => (await bed.temporal.workflow.count(query)).count >= N, 900_000, 1000);
    const parkSeconds = (Date.now() - t0) / 1000;
    const rssParked = rssMb(worker.pid!);

    // A workflow task on a parked workflow: the update replays it (it is long evicted) and waits until parked again.
    const sample = parked.filter((_, i) => i % Math.max(1, Math.floor(N / 200)) === 0).slice(0, 200);
    const latencies: number[] = [];
    await inParallel(sample, 8, async (id) => {
      const t = performance.now();
      await bed.temporal.workflow.getHandle(mailboxWorkflowId(id)).executeUpdate(disableUpdate);
      latencies.push(performance.now() - t);
    });
    latencies.sort((a, b) => a - b);

    const cycles = async () => {
      let total = 0;
      await inParallel(active, 16, async (id) => {
        const { cyclesThisRun } = await bed.temporal.workflow.getHandle(mailboxWorkflowId(id)).query(statusQuery);
        total += cyclesThisRun;
      });
      return total;
    };
    const c0 = await cycles();
    let rssPeak = rssMb(worker.pid!);
    const until = Date.now() + WINDOW_S * 1000;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 1000));
      rssPeak = Math.max(rssPeak, rssMb(worker.pid!));
    }
    const perMinute = ((await cycles()) - c0) * (60 / WINDOW_S);

    console.log('');
    console.log(`workflows: ${N} parked + ${ACTIVE} active, one worker process`);
    console.log(`started in ${startSeconds.toFixed(1)} s, all parked after ${parkSeconds.toFixed(1)} s`);
    console.log(`worker RSS: ${rssIdle.toFixed(0)} MB before, ${rssParked.toFixed(0)} MB with all parked, ${rssPeak.toFixed(0)} MB peak while syncing (goal <= 1024 MB)`);
    console.log(`workflow-task latency on a parked workflow (update round trip, n=${latencies.length}): p50 ${percentile(latencies, 50).toFixed(0)} ms, p95 ${percentile(latencies, 95).toFixed(0)} ms, max ${latencies[latencies.length - 1].toFixed(0)} ms`);
    console.log(`sync cycles per minute (${ACTIVE} active mailboxes, 5 s interval): ${perMinute.toFixed(0)}`);
  } finally {
    await killHard(worker);
    await bed.close();
    await dovecot.destroy();
  }
}

runBenchmark(main);
