/**
 * npm run bench:ingest — initial sync of 5,000 messages through the product (workflow, activity,
 * parse, store) against a raw imapflow fetch of the same messages, in the same run; then the
 * IMAP commands one idle cycle costs for a small and a large mailbox.
 */
import { randomUUID } from 'node:crypto';
import { runBenchmark } from './run';
import { ImapFlow } from 'imapflow';
import { parseMimeMessage } from '../../src/mail/mimeParser';
import { mailboxWorkflowId } from '../../src/temporal/names';
import { statusQuery } from '../../workflows';
import { DovecotServer } from '../support/dovecot';
import { makeMessages } from '../support/messages';
import { CountingTcpProxy } from '../support/tcpProxy';
import { eventually, TestBed } from '../support/testBed';

const LARGE = Number(process.env.BENCH_MESSAGES ?? 5000);
const SMALL = 10;
const WARM_UP = 1000;

/** One FETCH of every message's source; with `parse`, each is also parsed as it arrives, as the product does. */
async function rawFetch(server: { host: string; port: number }, user: string, parse = false): Promise<{ count: number; ms: number }> {
  const client = new ImapFlow({ host: server.host, port: server.port, secure: false, auth: { user, pass: 'secret' }, logger: false });
  const started = performance.now();
  await client.connect();
  await client.mailboxOpen('INBOX', { readOnly: true });
  let count = 0;
  for await (const msg of client.fetch('1:*', { uid: true, source: true })) {
    if (!msg.source) continue;
    if (parse) await parseMimeMessage(msg.source);
    count++;
  }
  await client.logout();
  return { count, ms: performance.now() - started };
}

async function idleCycleCommands(bed: TestBed, mailboxId: string, proxy: CountingTcpProxy): Promise<number> {
  const handle = bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId));
  const before = await handle.query(statusQuery);
  proxy.resetCounters();
  await bed.admin.syncNow(mailboxId);
  const after = await eventually('an idle cycle', async () => {
    const s = await handle.query(statusQuery);
    return s.cyclesThisRun > before.cyclesThisRun && s.state === 'idle' ? s : undefined;
  });
  if (after.lastOutcome?.status !== 'synced' || after.lastOutcome.itemsFound !== 0) throw new Error('The cycle was not idle');
  return proxy.clientCommands;
}

async function main(): Promise<void> {
  const dovecot = await DovecotServer.start({ name: 'bench' });
  const proxy = await CountingTcpProxy.start(dovecot.host, dovecot.imapPort);
  const bed = await TestBed.create({ SYNC_DEFAULT_INTERVAL_SECONDS: '3600', SYNC_BATCH_SIZE: process.env.BENCH_BATCH_SIZE ?? '200' });
  try {
    const large = `large-${randomUUID().slice(0, 6)}@example.test`;
    const small = `small-${randomUUID().slice(0, 6)}@example.test`;
    const warmUp = `warm-up-${randomUUID().slice(0, 6)}@example.test`;
    for (const user of [large, small, warmUp]) await dovecot.addUser(user, 'secret');
    console.log(`Delivering ${LARGE} + ${SMALL} + ${WARM_UP} messages...`);
    await dovecot.append(large, 'secret', makeMessages(LARGE, { to: large, body: 'x'.repeat(2000) }));
    await dovecot.append(small, 'secret', makeMessages(SMALL, { to: small }));
    await dovecot.append(warmUp, 'secret', makeMessages(WARM_UP, { to: warmUp, body: 'x'.repeat(2000) }));

    // Both sides go through the counting proxy, and both run warm: the raw side after one pass of
    // its own, the product after syncing a smaller mailbox first.
    await rawFetch(proxy, large, true);
    const raw = await rawFetch(proxy, large);
    if (raw.count !== LARGE) throw new Error(`Raw fetch saw ${raw.count} messages, expected ${LARGE}`);
    const parsed = await rawFetch(proxy, large, true);

    const { id: profileId } = await bed.admin.createProfile({
      name: 'Bench Dovecot',
      serverType: 'imap',
      incomingHost: proxy.host,
      incomingPort: proxy.port,
      incomingSecurity: 'none',
      minPollingIntervalSeconds: 3600,
    });
    await bed.startWorkers();
    const initialSync = async (emailAddress: string, count: number): Promise<{ id: string; ms: number }> => {
      const started = performance.now();
      const { id } = await bed.admin.createMailbox({ emailApproved: true, emailAddress, profileId, password: 'secret' });
      await eventually(
        `${count} messages stored`,
        async () => (await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [id]))[0].n === count,
        600_000,
        20,
      );
      return { id, ms: performance.now() - started };
    };
    await initialSync(warmUp, WARM_UP);
    const { id: largeId, ms: productMs } = await initialSync(large, LARGE);
    const { id: smallId } = await initialSync(small, SMALL);
    await eventually('the first cycles to finish', async () => {
      const states = await Promise.all([largeId, smallId].map((id) => bed.temporal.workflow.getHandle(mailboxWorkflowId(id)).query(statusQuery)));
      return states.every((s) => s.state === 'idle');
    });

    const rawRate = (LARGE / raw.ms) * 1000;
    const productRate = (LARGE / productMs) * 1000;
    const parsedRate = (LARGE / parsed.ms) * 1000;
    console.log('');
    console.log(`raw imapflow fetch:      ${LARGE} messages in ${(raw.ms / 1000).toFixed(2)} s = ${rawRate.toFixed(0)} msg/s`);
    // Fetching and parsing alone, with nothing stored: the most any product that parses what it syncs can reach in one thread.
    console.log(`fetch + parse only:      ${LARGE} messages in ${(parsed.ms / 1000).toFixed(2)} s = ${parsedRate.toFixed(0)} msg/s (ceiling ratio ${(parsedRate / rawRate).toFixed(2)})`);
    console.log(`product initial sync:    ${LARGE} messages in ${(productMs / 1000).toFixed(2)} s = ${productRate.toFixed(0)} msg/s (fetch, parse, resolve parties, store, through Temporal)`);
    console.log(`ratio product/raw:       ${(productRate / rawRate).toFixed(2)} (goal >= 0.80)`);
    console.log(`idle cycle, ${SMALL} messages:    ${await idleCycleCommands(bed, smallId, proxy)} IMAP commands`);
    console.log(`idle cycle, ${LARGE} messages:  ${await idleCycleCommands(bed, largeId, proxy)} IMAP commands`);
  } finally {
    await bed.close();
    await proxy.close();
    await dovecot.destroy();
  }
}

runBenchmark(main);
