import { mailboxWorkflowId } from '../src/temporal/names';
import type { WorkerSet } from '../src/worker/workers';
import { statusQuery } from '../workflows';
import { DovecotServer } from './support/dovecot';
import { makeMessages } from './support/messages';
import { CountingTcpProxy } from './support/tcpProxy';
import { dovecotProfile, eventually, TestBed } from './support/testBed';

let bed: TestBed;
let dovecot: DovecotServer;
let proxy: CountingTcpProxy;
let workers: WorkerSet;

beforeAll(async () => {
  // Batches of 40 over a few hundred messages: many batches, one FETCH each folder. An hour's wait keeps later cycles out.
  bed = await TestBed.create({ SYNC_BATCH_SIZE: '40', SYNC_DEFAULT_INTERVAL_SECONDS: '3600', PARSE_THREADS: '1' });
  dovecot = await DovecotServer.start();
  proxy = await CountingTcpProxy.start(dovecot.host, dovecot.imapPort);
  workers = await bed.startWorkers();
});

afterAll(async () => {
  await bed?.close();
  await proxy?.close();
  await dovecot?.destroy();
});

it('reads each folder with one streamed UID FETCH, no listing, and parses on the pool threads', async () => {
  const user = 'stream@example.test';
  await dovecot.addUser(user, 'secret');
  await dovecot.append(user, 'secret', makeMessages(230, { to: user }));
  await dovecot.append(user, 'secret', makeMessages(90, { to: user }), 'Work');
  // One over the limit (set below): an item-level error, never downloaded.
  await dovecot.append(user, 'secret', makeMessages(1, { to: user, body: 'z'.repeat(20_000) }), 'Work');
  const parsedBefore = workers.parsePool.messagesParsed;
  const tasksBefore = workers.parsePool.tasksCompleted;
  const cpuBefore = workers.parsePool.cpuMs;
  const profile = await bed.admin.createProfile(dovecotProfile('Stream Dovecot', { host: proxy.host, imapPort: proxy.port }, { maxMessageBytes: 10_000 }));
  proxy.resetCounters();
  const { id: mailboxId } = await bed.admin.createMailbox({
    emailApproved: true,
    emailAddress: user,
    profileId: profile.id,
    password: 'secret',
    folders: ['INBOX', 'Work'],
  });
  const handle = bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId));
  const outcome = await eventually('the first cycle', async () => {
    const s = await handle.query(statusQuery);
    return s.cyclesThisRun >= 1 && s.state === 'idle' ? s.lastOutcome : undefined;
  }, 60_000);

  expect(outcome).toMatchObject({ status: 'synced', itemsFound: 321, itemsStored: 320, itemsFailed: 1, moreAvailable: false });
  const [stored] = await bed.query<{ links: number; errors: string[] }>(
    `SELECT (SELECT count(*) FROM item_links WHERE mailbox_id = $1)::int AS links,
            (SELECT array_agg(message) FROM sync_errors WHERE mailbox_id = $1 AND scope = 'item') AS errors`,
    [mailboxId],
  );
  expect(stored.links).toBe(320);
  expect(stored.errors).toEqual([expect.stringMatching(/^Message is \d+ bytes, over the profile's limit of 10000 bytes/)]);

  const fetches = proxy.commandLog.filter((line) => /^\S+ (UID )?FETCH /i.test(line));
  // One FETCH per folder, of the message sources, plus the size of the one too large to download.
  const sourceFetches = fetches.filter((line) => /BODY\.PEEK\[\]/i.test(line));
  expect(sourceFetches).toHaveLength(2);
  expect(sourceFetches.every((line) => /^\S+ UID FETCH /i.test(line))).toBe(true);
  expect(fetches.filter((line) => !/BODY\.PEEK\[\]/i.test(line))).toEqual([expect.stringMatching(/^\S+ UID FETCH \d+ \(UID RFC822\.SIZE( MODSEQ)?\)$/i)]);
  expect(proxy.commandLog.filter((line) => /^\S+ (UID )?SEARCH /i.test(line))).toHaveLength(2);

  // Every stored message was parsed on one of the pool's threads, not on the worker's own.
  expect(workers.parsePool.threads).toBe(1);
  expect(workers.parsePool.messagesParsed - parsedBefore).toBe(320);
  expect(workers.parsePool.tasksCompleted - tasksBefore).toBeGreaterThanOrEqual(1);
  expect(workers.parsePool.cpuMs).toBeGreaterThan(cpuBefore);
});
