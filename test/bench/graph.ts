/**
 * npm run bench:graph — initial sync of an Exchange Online mailbox from the Graph fake through the
 * product (workflow, activity, delta paging, mapping, store) against a raw Graph client that pages
 * the same folder's delta with the same page size and stores nothing, in one run.
 *
 * The fake runs in a process of its own (test/bench/graphFakeProcess.ts), reached over HTTPS only, as
 * a real Graph service is: its work does not share the event loop of the product's worker, nor of the
 * raw client.
 *
 * Once per latency in BENCH_GRAPH_LATENCIES_MS (default 0,100,250), set through the fake's control
 * API: every Graph request takes at least that long (0: the fake answers at once; a delta page of
 * Exchange Online takes a few hundred ms).
 *
 * BENCH_MESSAGES (default 5000); BENCH_BATCH_SIZE (default: the product's SYNC_BATCH_SIZE, 100)
 * is the page size of both. Messages have HTML bodies of a few KB and no attachments, so both
 * sides make the same requests.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { Client } from '@microsoft/microsoft-graph-client';
import { MESSAGE_SELECT } from '../../src/mail/graph/graphMessage';
import { mailboxWorkflowId } from '../../src/temporal/names';
import { statusQuery } from '../../workflows';
import { exchangeMailbox, exchangeProfile } from '../support/exchange';
import { graphFakeAuthorityMetadata } from '../support/graphFake';
import { eventually, TestBed } from '../support/testBed';
import type { GraphFakeFacts, GraphFakeProcessSpec } from './graphFakeProcess';
import { runBenchmarkTrustingGraphFake } from './run';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 5000);
const PAGE_SIZE = Number(process.env.BENCH_BATCH_SIZE ?? 100);
const WARM_UP = 500;
const LATENCIES = (process.env.BENCH_GRAPH_LATENCIES_MS ?? '0,100,250').split(',').map(Number);

/** Pages a folder's delta from the start with the Graph client, as the product asks for it, and stores nothing. */
async function rawDelta(fake: GraphFakeFacts, user: string): Promise<{ ms: number; count: number }> {
  const msal = new ConfidentialClientApplication({
    auth: {
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      authority: `${fake.authorityHost}/${fake.tenantId}`,
      knownAuthorities: [new URL(fake.authorityHost).host],
      authorityMetadata: JSON.stringify(graphFakeAuthorityMetadata(fake)),
    },
  });
  const scope = `${new URL(fake.graphBaseUrl).origin}/.default`;
  const client = Client.initWithMiddleware({
    baseUrl: fake.graphBaseUrl,
    customHosts: new Set([new URL(fake.graphBaseUrl).hostname]),
    authProvider: { getAccessToken: async () => (await msal.acquireTokenByClientCredential({ scopes: [scope] }))!.accessToken },
  });
  const prefer = { Prefer: `IdType="ImmutableId", odata.maxpagesize=${PAGE_SIZE}` };
  const started = performance.now();
  let count = 0;
  let url: string | undefined = `/users/${encodeURIComponent(user)}/mailFolders/inbox/messages/delta?$select=${MESSAGE_SELECT.join(',')}`;
  while (url) {
    const page: { value: unknown[]; '@odata.nextLink'?: string } = await client.api(url).headers(prefer).get();
    count += page.value.length;
    url = page['@odata.nextLink'];
  }
  return { ms: performance.now() - started, count };
}

/**
 * Runs `use` with the Graph fake in a process of its own (test/bench/graphFakeProcess.ts), seeded as
 * `spec` says, and ends that process when `use` settles. The child also ends when its stdin closes,
 * so it does not outlive this process even if this one is killed.
 */
async function withFakeProcess(spec: GraphFakeProcessSpec, use: (fake: GraphFakeFacts) => Promise<void>): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve(__dirname, 'graphFakeProcess.ts'), JSON.stringify(spec)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  let timer: NodeJS.Timeout | undefined;
  try {
    const ready = once(createInterface({ input: child.stdout! }), 'line') as Promise<[string]>;
    const ended = exited.then(([code]) => Promise.reject(new Error(`The Graph fake's process ended (exit code ${code}) before it was ready`)));
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('The Graph fake was not ready within 120 s')), 120_000);
    });
    const [line] = await Promise.race([ready, ended, timedOut]);
    clearTimeout(timer);
    await use(JSON.parse(line) as GraphFakeFacts);
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(force);
    }
  }
}

/** Every Graph request of the fake takes at least `ms`, through its control API. */
async function slowFake(fake: GraphFakeFacts, ms: number): Promise<void> {
  const res = await fetch(`${fake.authorityHost}/_fake/script/slow`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ms }) });
  if (!res.ok) throw new Error(`The Graph fake refused script/slow: ${res.status} ${await res.text()}`);
}

async function main(): Promise<void> {
  const run = randomUUID().slice(0, 6);
  const users = LATENCIES.map((latencyMs) => ({ latencyMs, mail: `bench-${latencyMs}-${run}@contoso.test` }));
  const warmUp = `warm-up-${run}@contoso.test`;
  // Distinct messages per run: a Message-ID stored once is only linked again, which would flatter the product.
  const mailboxes = [...users.map(({ mail }) => ({ mail, count: MESSAGES })), { mail: warmUp, count: WARM_UP, subject: 'Warm-up' }];
  await withFakeProcess({ mailboxes }, async (fake) => {
    const bed = await TestBed.create({ SYNC_DEFAULT_INTERVAL_SECONDS: '3600', SYNC_BATCH_SIZE: String(PAGE_SIZE) });
    try {
      console.log(`${MESSAGES} messages in the Inbox of the Graph fake (a process of its own) per run, HTML bodies of ${(fake.bodyBytes / 1024).toFixed(1)} KB; page size ${PAGE_SIZE}`);
      const { id: profileId } = await bed.admin.createProfile(exchangeProfile('Bench Contoso', fake, { minPollingIntervalSeconds: 3600 }));
      const workers = await bed.startWorkers();
      console.log(`Parse pool (maps Graph messages): ${workers.parsePool.threads} thread(s)`);

      const initialSync = async (mail: string, count: number) => {
        const started = performance.now();
        const startedAt = Date.now();
        const { mailboxId } = await exchangeMailbox(bed, profileId, mail);
        await eventually(
          `${count} messages stored`,
          async () => (await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links WHERE mailbox_id = $1`, [mailboxId]))[0].n === count,
          600_000,
          10,
        );
        const ms = performance.now() - started;
        const [{ cycle_started }] = await bed.query<{ cycle_started: Date }>(`SELECT last_sync_started_at AS cycle_started FROM mailboxes WHERE id = $1`, [mailboxId]);
        await eventually('the first cycle to finish', async () => (await bed.temporal.workflow.getHandle(mailboxWorkflowId(mailboxId)).query(statusQuery)).state === 'idle');
        return { ms, cycleMs: ms - (cycle_started.getTime() - startedAt) };
      };

      // Both run warm: the client and the fake after a pass of their own, the product after a smaller mailbox.
      await rawDelta(fake, warmUp);
      await initialSync(warmUp, WARM_UP);

      const results = [];
      for (const { latencyMs, mail } of users) {
        await bed.query('VACUUM ANALYZE');
        await slowFake(fake, latencyMs);
        const before = await rawDelta(fake, mail);
        if (before.count !== MESSAGES) throw new Error(`The raw client saw ${before.count} messages, expected ${MESSAGES}`);
        const product = await initialSync(mail, MESSAGES);
        const after = await rawDelta(fake, mail);
        results.push({ latencyMs, rawMs: (before.ms + after.ms) / 2, before, after, product });
        console.log(`  latency ${latencyMs} ms: raw ${(before.ms / 1000).toFixed(2)} s and ${(after.ms / 1000).toFixed(2)} s, product cycle ${(product.cycleMs / 1000).toFixed(2)} s`);
      }

      const rate = (ms: number) => ((MESSAGES / ms) * 1000).toFixed(0);
      console.log('');
      console.log(`Initial sync of ${MESSAGES} messages from the Graph fake, msg/s (raw: a Graph client paging the delta, nothing stored, the mean of a run`);
      console.log('before and one after the product; product: the sync cycle, from its start to the last message stored; end-to-end: from creating the mailbox)');
      console.log('Graph latency per request |  raw | product | end-to-end | product/raw');
      for (const r of results) {
        console.log(
          [
            `${r.latencyMs} ms`.padEnd(25),
            rate(r.rawMs).padStart(4),
            rate(r.product.cycleMs).padStart(7),
            rate(r.product.ms).padStart(10),
            (r.rawMs / r.product.cycleMs).toFixed(2).padStart(11),
          ].join(' | '),
        );
      }
      console.log('Goal: product/raw >= 0.8.');
    } finally {
      await bed.close();
    }
  });
}

runBenchmarkTrustingGraphFake(path.resolve(__filename), main);
