/**
 * npm run bench:ingest — initial sync through the product (workflow, activity, streamed fetch,
 * parse pool, store) against a raw imapflow fetch and a fetch that also parses, of the same
 * realistic messages, over an emulated link (RTT 0/20/80 ms × unlimited/50 Mbit/s) in one run;
 * then the IMAP commands and round trips one idle cycle costs for a small and a large mailbox.
 *
 * BENCH_MESSAGES (default 2000) per link; BENCH_BATCH_SIZE and PARSE_THREADS default to the product's defaults.
 * BENCH_LINKS picks links, comma-separated `<rtt>/<unlimited|capped>` (e.g. `80/unlimited`); default all six.
 * BENCH_CPU_PROFILE=<dir> writes a CPU profile of the main thread during each link's product sync there (.cpuprofile).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { ImapFlow } from 'imapflow';
import { parseMimeMessage } from '../../src/mail/mimeParser';
import { mailboxWorkflowId } from '../../src/temporal/names';
import { statusQuery } from '../../workflows';
import { DovecotServer } from '../support/dovecot';
import { makeMessages } from '../support/messages';
import { CountingTcpProxy } from '../support/tcpProxy';
import { eventually, TestBed } from '../support/testBed';
import { makeRealisticMessages } from './realisticMessages';
import { runBenchmark } from './run';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2000);
const SMALL = 10;
const WARM_UP = 500;
const LINKS = [0, 20, 80]
  .flatMap((rttMs) => [null, 50_000_000].map((bitsPerSecond) => ({ rttMs, bitsPerSecond, key: `${rttMs}/${bitsPerSecond ? 'capped' : 'unlimited'}` })))
  .filter((link) => !process.env.BENCH_LINKS || process.env.BENCH_LINKS.split(',').includes(link.key));
if (LINKS.length === 0) throw new Error(`BENCH_LINKS=${process.env.BENCH_LINKS} names no link: use e.g. 80/unlimited,80/capped`);

interface Run {
  ms: number;
  /** CPU of this whole process (all its threads) during the run, µs. */
  cpuUs: number;
  /** CPU of its main thread, µs: imapflow, the SQL client, party resolution, the Temporal SDK's JavaScript. */
  mainUs: number;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU time of the main thread (Linux: its schedstat, ns), µs. */
function mainThreadCpu(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
}

const SERVER_GROUPS: [string, RegExp][] = [
  ['postgres', /^postgres/],
  ['dovecot', /^(imap|imap-login|dovecot|auth|anvil|log|config|stats)$/],
  ['temporal', /^temporal/],
];

/** CPU each server process on this machine has used so far (PostgreSQL, Dovecot, the Temporal dev server), µs by pid, from /proc. */
function serversCpu(): Map<string, { group: string; us: number }> {
  const tickUs = 1e6 / 100;
  const processes = new Map<string, { group: string; us: number }>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const group = SERVER_GROUPS.find(([, pattern]) => pattern.test(comm));
    if (!group) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    processes.set(pid, { group: group[0], us: (Number(fields[11]) + Number(fields[12])) * tickUs });
  }
  return processes;
}

/** CPU per server since `before`, of the processes alive now (one that ended meanwhile is not counted). */
function serversCpuSince(before: Map<string, { group: string; us: number }>): Record<string, number> {
  const totals: Record<string, number> = Object.fromEntries(SERVER_GROUPS.map(([name]) => [name, 0]));
  for (const [pid, { group, us }] of serversCpu()) totals[group] += us - (before.get(pid)?.us ?? 0);
  return totals;
}

/** One FETCH of every message's source; with `parse`, each is also parsed as it arrives, on this thread. */
async function rawFetch(server: { host: string; port: number }, user: string, parse: boolean): Promise<Run & { count: number }> {
  const client = new ImapFlow({ host: server.host, port: server.port, secure: false, auth: { user, pass: 'secret' }, logger: false });
  const cpu = cpuNow();
  const main = mainThreadCpu();
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
  return { count, ms: performance.now() - started, cpuUs: cpuNow() - cpu, mainUs: mainThreadCpu() - main };
}

async function idleCycle(bed: TestBed, mailboxId: string, proxy: CountingTcpProxy): Promise<{ commands: number; roundTrips: number; log: string[] }> {
  const handle = bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId));
  const before = await handle.query(statusQuery);
  proxy.resetCounters();
  await bed.admin.syncNow(mailboxId);
  const after = await eventually('an idle cycle', async () => {
    const s = await handle.query(statusQuery);
    return s.cyclesThisRun > before.cyclesThisRun && s.state === 'idle' ? s : undefined;
  });
  if (after.lastOutcome?.status !== 'synced' || after.lastOutcome.itemsFound !== 0) throw new Error('The cycle was not idle');
  return { commands: proxy.clientCommands, roundTrips: proxy.roundTrips, log: [...proxy.commandLog] };
}

/** Runs `body` under the V8 profiler when BENCH_CPU_PROFILE names a directory, writing `<name>.cpuprofile` there. */
async function profiled<T>(name: string, body: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_CPU_PROFILE;
  if (!dir) return body();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await body();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/${name}.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
  }
}

const rate = (ms: number) => (MESSAGES / ms) * 1000;
const pad = (s: string | number, n: number) => String(s).padStart(n);

async function main(): Promise<void> {
  const dovecot = await DovecotServer.start({ name: 'bench' });
  const links = await Promise.all(
    LINKS.map(async (link) => ({
      ...link,
      label: `RTT ${link.rttMs} ms, ${link.bitsPerSecond ? `${link.bitsPerSecond / 1e6} Mbit/s` : 'unlimited'}`,
      proxy: await CountingTcpProxy.start(dovecot.host, dovecot.imapPort, { oneWayDelayMs: link.rttMs / 2, bitsPerSecond: link.bitsPerSecond ?? undefined }),
      user: `bench-${link.rttMs}-${link.bitsPerSecond ? 'capped' : 'unlimited'}-${randomUUID().slice(0, 6)}@example.test`,
    })),
  );
  const bed = await TestBed.create({ SYNC_DEFAULT_INTERVAL_SECONDS: '3600', ...(process.env.BENCH_BATCH_SIZE ? { SYNC_BATCH_SIZE: process.env.BENCH_BATCH_SIZE } : {}) });
  try {
    const small = `small-${randomUUID().slice(0, 6)}@example.test`;
    const warmUp = `warm-up-${randomUUID().slice(0, 6)}@example.test`;
    console.log(`Delivering ${LINKS.length} × ${MESSAGES} + ${WARM_UP} + ${SMALL} messages...`);
    let bytes = 0;
    for (const link of links) {
      await dovecot.addUser(link.user, 'secret');
      // Distinct messages per link: a Message-ID stored once is only linked again, which would flatter the product.
      const messages = makeRealisticMessages(MESSAGES, link.user, randomUUID().slice(0, 8));
      bytes = messages.reduce((n, m) => n + m.length, 0);
      await dovecot.append(link.user, 'secret', messages);
    }
    await dovecot.addUser(warmUp, 'secret');
    await dovecot.append(warmUp, 'secret', makeRealisticMessages(WARM_UP, warmUp, randomUUID().slice(0, 8)));
    await dovecot.addUser(small, 'secret');
    await dovecot.append(small, 'secret', makeMessages(SMALL, { to: small }));
    console.log(`${MESSAGES} messages per link, ${(bytes / MESSAGES / 1024).toFixed(1)} KB each on average (multipart/alternative; every 4th with a 3 KB PDF)`);

    const profiles = new Map<CountingTcpProxy, string>();
    for (const link of links) {
      const { id } = await bed.admin.createProfile({
        name: `Bench ${link.label}`,
        serverType: 'imap',
        incomingHost: link.proxy.host,
        incomingPort: link.proxy.port,
        incomingSecurity: 'none',
        minPollingIntervalSeconds: 3600,
      });
      profiles.set(link.proxy, id);
    }
    const workers = await bed.startWorkers();
    console.log(`Parse pool: ${workers.parsePool.threads} thread(s)`);

    /** Mailbox created to last message stored; and the sync cycle alone, from its start (after Temporal scheduled it) to the same point. */
    const initialSync = async (emailAddress: string, proxy: CountingTcpProxy, count: number) => {
      const cpu = cpuNow();
      const main = mainThreadCpu();
      const parsing = workers.parsePool.cpuMs;
      const servers = serversCpu();
      const started = performance.now();
      const startedAt = Date.now();
      const { id } = await bed.admin.createMailbox({ emailApproved: true, emailAddress, profileId: profiles.get(proxy)!, password: 'secret' });
      // Polled often, so cheaply: the progress the commits store with each batch, then one count to confirm.
      await eventually(
        `${count} messages stored`,
        async () => {
          const [progress] = await bed.query<{ done: number | null; finished: boolean }>(
            `SELECT (sync_progress->>'itemsDone')::int AS done, last_sync_completed_at IS NOT NULL AS finished FROM mailboxes WHERE id = $1`,
            [id],
          );
          if ((progress.done ?? 0) < count && !progress.finished) return false;
          return (await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [id]))[0].n === count;
        },
        600_000,
        10,
      );
      const ms = performance.now() - started;
      const cpuUs = cpuNow() - cpu;
      const serversUs = serversCpuSince(servers);
      const mainUs = mainThreadCpu() - main;
      const parseUs = (workers.parsePool.cpuMs - parsing) * 1000;
      const [{ cycle_started }] = await bed.query<{ cycle_started: Date }>(`SELECT last_sync_started_at AS cycle_started FROM mailboxes WHERE id = $1`, [id]);
      const cycleMs = ms - (cycle_started.getTime() - startedAt);
      await eventually('the first cycle to finish', async () => (await bed.temporal.workflow.getHandle(mailboxWorkflowId(id)).query(statusQuery)).state === 'idle');
      return { id, ms, cycleMs, cpuUs, mainUs, parseUs, serversUs };
    };

    // Everything runs warm: the parser and imapflow after a pass of their own, the product after a smaller mailbox.
    await rawFetch(links[0].proxy, links[0].user, true);
    await initialSync(warmUp, links[0].proxy, WARM_UP);

    const results = [];
    for (const link of links) {
      // Each link starts on a quiet database: the last link's inserts would otherwise be analysed by autovacuum meanwhile.
      await bed.query('VACUUM ANALYZE');
      const raw = await rawFetch(link.proxy, link.user, false);
      if (raw.count !== MESSAGES) throw new Error(`Raw fetch saw ${raw.count} messages, expected ${MESSAGES}`);
      const parsed = await rawFetch(link.proxy, link.user, true);
      const product = await profiled(`product-${link.key.replace('/', '-')}`, () => initialSync(link.user, link.proxy, MESSAGES));
      results.push({ link, raw, parsed, product });
      console.log(`  ${link.label}: raw ${(raw.ms / 1000).toFixed(2)} s, fetch+parse ${(parsed.ms / 1000).toFixed(2)} s, product cycle ${(product.cycleMs / 1000).toFixed(2)} s`);
    }

    console.log('');
    console.log(`Initial sync of ${MESSAGES} messages, msg/s (product: the sync cycle, from its start to the last message stored; end-to-end: from creating the mailbox)`);
    console.log('link                       |   raw | fetch+parse | product | end-to-end | product/raw | product/(fetch+parse) | end-to-end/raw');
    for (const { link, raw, parsed, product } of results) {
      console.log(
        [
          link.label.padEnd(26),
          pad(rate(raw.ms).toFixed(0), 5),
          pad(rate(parsed.ms).toFixed(0), 11),
          pad(rate(product.cycleMs).toFixed(0), 7),
          pad(rate(product.ms).toFixed(0), 10),
          pad((raw.ms / product.cycleMs).toFixed(2), 11),
          pad((parsed.ms / product.cycleMs).toFixed(2), 21),
          pad((raw.ms / product.ms).toFixed(2), 14),
        ].join(' | '),
      );
    }
    console.log('Goals: product/raw >= 0.9 at RTT 80 ms, 50 Mbit/s; product/(fetch+parse) >= 0.9 at RTT 80 ms, unlimited.');

    console.log('');
    console.log('CPU per message in the product, µs (this process; PostgreSQL, Dovecot and the Temporal server are not included):');
    console.log('  fetch: main-thread CPU of the raw fetch (the same imapflow work); parse: the pool threads\' CPU on parse tasks;');
    console.log('  store: the product\'s main-thread CPU minus fetch (SQL client, party resolution, batching, Temporal SDK);');
    console.log('  other: the rest of the process (garbage collection, Temporal core, libuv threads);');
    console.log('  fetch+parse: the whole process\'s CPU in the fetch that parses on its one thread, for comparison');
    console.log('link                       | fetch | parse | store | other | total | fetch+parse');
    for (const { link, raw, parsed, product } of results) {
      const perMsg = (us: number) => pad((us / MESSAGES).toFixed(0), 5);
      const fetchUs = raw.mainUs;
      console.log(
        [
          link.label.padEnd(26),
          perMsg(fetchUs),
          perMsg(product.parseUs),
          perMsg(product.mainUs - fetchUs),
          perMsg(product.cpuUs - product.mainUs - product.parseUs),
          perMsg(product.cpuUs),
          pad((parsed.cpuUs / MESSAGES).toFixed(0), 11),
        ].join(' | '),
      );
    }

    console.log('');
    console.log('CPU per message in the servers during the product sync, µs (PostgreSQL backends, Dovecot, the Temporal dev server; processes that ended meanwhile are not counted):');
    console.log('link                       | postgres | dovecot | temporal');
    for (const { link, product } of results) {
      const perMsg = (us: number, n: number) => pad((us / MESSAGES).toFixed(0), n);
      console.log([link.label.padEnd(26), perMsg(product.serversUs.postgres, 8), perMsg(product.serversUs.dovecot, 7), perMsg(product.serversUs.temporal, 8)].join(' | '));
    }

    console.log('');
    const base = links[0];
    const { id: smallId } = await initialSync(small, base.proxy, SMALL);
    const largeId = (await bed.query<{ id: string }>(`SELECT id FROM mailboxes WHERE email_address = $1`, [base.user]))[0].id;
    for (const [label, id] of [
      [`${SMALL} messages`, smallId],
      [`${MESSAGES} messages`, largeId],
    ] as const) {
      const idle = await idleCycle(bed, id, base.proxy);
      console.log(`idle cycle, ${label.padEnd(15)} ${idle.commands} IMAP commands, ${idle.roundTrips} round trips: ${idle.log.map((l) => l.split(' ')[1]).join(' ')}`);
    }
  } finally {
    await bed.close();
    for (const link of links) await link.proxy.close();
    await dovecot.destroy();
  }
}

runBenchmark(main);
