/**
 * npm run bench:send — outgoing email through the product against a pooled nodemailer transport,
 * in one run, to the same Postfix (test/support/postfix.ts) delivering into the same Dovecot.
 *
 * Throughput, in BENCH_SEND_ROUNDS (default 3) rounds: BENCH_SEND_EMAILS (default 1000) emails of
 * the same shape (~3 KB: text + HTML alternatives, display names, one recipient) sent straight to
 * Postfix by nodemailer `createTransport({ pool: true, ... })` with its defaults (5 connections),
 * time until every promise resolved (accepted); and the same number queued in the CRM's database,
 * spread over BENCH_SEND_MAILBOXES (default 10) users' mailboxes (a CRM has many users), time from
 * the insert's commit (the product cannot see the rows before it; the CRM's insert itself is timed
 * apart) until the last is `sent` (accepted and its copy saved in the Sent folder, which the baseline
 * does not do) and until the last was accepted. The rounds alternate, baseline first and last, and
 * each product round is set against the mean of the baseline rounds either side of it, as the
 * machine's pace drifts; the goal is judged on the median round. Then all of them from a single
 * mailbox. After each, every Message-ID must have arrived in Dovecot (and, for the product, in the
 * senders' Sent folders).
 *
 * Latency: on the idle system, BENCH_SEND_SINGLES (default 30) emails queued one at a time
 * (each after the previous one is sent, plus a random pause), queued_at -> smtp_accepted_at (both
 * database timestamps).
 *
 * SEND_BATCH_SIZE and SEND_CONCURRENCY, when set, are passed to the product.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createTransport } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import { DovecotServer, isOurMaster } from '../support/dovecot';
import { PostfixServer } from '../support/postfix';
import { dovecotProfile, eventually, TestBed } from '../support/testBed';
import { runBenchmark } from './run';

const EMAILS = Number(process.env.BENCH_SEND_EMAILS ?? 1000);
const MAILBOXES = Number(process.env.BENCH_SEND_MAILBOXES ?? 10);
const SINGLES = Number(process.env.BENCH_SEND_SINGLES ?? 30);
const ROUNDS = Number(process.env.BENCH_SEND_ROUNDS ?? 3);
const RECIPIENTS = 10;
const WARM_UP = 20;
const PASS = 'secret';
const RUN_TIMEOUT_MS = 300_000;
const DELIVERY_TIMEOUT_MS = 180_000;
const RATIO_GOAL = 0.7;
const P50_GOAL_MS = 2000;

const WORDS = (
  'thank you for your order we attach the quote for the replacement parts and the revised delivery schedule ' +
  'please confirm the quantities before friday so that our warehouse can reserve the stock for your site'
).split(' ');

function prose(words: number, seed: number): string {
  return Array.from({ length: words }, (_, i) => WORDS[(seed * 7 + i * 11) % WORDS.length]).join(' ');
}

/** A CRM user's email: ~1.2 KB of text and the same as HTML, ~3 KB on the wire. */
function body(n: number): { text: string; html: string } {
  const paragraphs = [prose(70, n), prose(60, n + 1), prose(50, n + 2)];
  return {
    text: `Dear customer,\n\n${paragraphs.join('\n\n')}\n\nKind regards,\nSales team`,
    html: `<html><body><p>Dear customer,</p>${paragraphs.map((p) => `<p>${p}</p>`).join('')}<p>Kind regards,<br><b>Sales team</b></p></body></html>`,
  };
}

interface Recipient {
  address: string;
  name: string;
}

const recipientOf = (recipients: Recipient[], i: number) => recipients[i % recipients.length];
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
const pad = (s: string | number, n: number) => String(s).padStart(n);

/** Waits until every Message-ID is in its recipient's INBOX (read with doveadm through the harness). */
async function waitDelivered(postfix: PostfixServer, expected: Map<string, string[]>, what: string): Promise<void> {
  const missing = async () => {
    let n = 0;
    for (const [address, ids] of expected) {
      const have = new Set((await postfix.deliveredTo(address)).map((m) => m.messageId));
      n += ids.filter((id) => !have.has(id)).length;
    }
    return n;
  };
  await eventually(`${what}: every message delivered`, async () => (await missing()) === 0, DELIVERY_TIMEOUT_MS, 1000).catch(async (err: Error) => {
    throw new Error(`${err.message} (${await missing()} missing, ${await postfix.queueSize()} in Postfix's queue)`);
  });
}

function groupByAddress(pairs: { address: string; messageId: string }[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const { address, messageId } of pairs) map.set(address, [...(map.get(address) ?? []), messageId]);
  return map;
}


// ---------------------------------------------------------------- CPU by component

/** Linux's USER_HZ: /proc reports CPU times in these ticks. */
const TICK_MS = 10;

/** ppid, process group and CPU (ms, reaped children included) of a process, from /proc; null once it is gone. */
function procCpu(pid: number): { ppid: number; pgrp: number; ms: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), pgrp: Number(f[2]), ms: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS };
  } catch {
    return null;
  }
}

const allPids = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);

/** Where the CPU goes: this process, the Temporal dev server (its child), Postfix and Dovecot (their masters' process groups), and the bench database's PostgreSQL backends. */
class CpuMeter {
  private readonly masters: { name: string; pid: number }[];

  constructor(
    private readonly bed: TestBed,
    markers: { name: string; marker: string }[],
  ) {
    const pids = allPids();
    this.masters = markers.map(({ name, marker }) => {
      const pid = pids.find((p) => p !== process.pid && procCpu(p) !== null && isOurMaster(p, marker));
      if (pid === undefined) throw new Error(`No master process for ${name}`);
      return { name, pid };
    });
  }

  async sample(): Promise<Map<string, number>> {
    const byPid = new Map(
      allPids().flatMap((p) => {
        const c = procCpu(p);
        return c ? [[p, c] as const] : [];
      }),
    );
    const u = process.cpuUsage();
    const totals = new Map<string, number>([['this process (product worker / nodemailer, Postfix policy service)', (u.user + u.system) / 1000]]);
    let temporal = 0;
    for (const c of byPid.values()) if (c.ppid === process.pid) temporal += c.ms;
    totals.set('Temporal dev server', temporal);
    for (const { name, pid } of this.masters) {
      let ms = 0;
      for (const c of byPid.values()) if (c.pgrp === pid) ms += c.ms;
      totals.set(name, ms);
    }
    const backends = await this.bed.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`);
    for (const { pid } of backends) totals.set(`pg:${pid}`, byPid.get(pid)?.ms ?? 0);
    return totals;
  }

  /** CPU ms per component between two samples; a backend that came or went counts from 0. */
  static diff(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
    const out = new Map<string, number>();
    for (const [key, ms] of after) {
      const name = key.startsWith('pg:') ? 'PostgreSQL backends (the bench database)' : key;
      out.set(name, (out.get(name) ?? 0) + ms - (before.get(key) ?? 0));
    }
    return out;
  }
}

async function main(): Promise<void> {
  const dovecot = await DovecotServer.start({ name: 'bench-send', authListener: true });
  const postfix = await PostfixServer.start({ dovecot, name: 'bench-send' });
  const tag = randomUUID().slice(0, 6);
  const senders = Array.from({ length: MAILBOXES }, (_, i) => ({ address: `sender-${i}-${tag}@example.test`, name: `Sales Person ${i}` }));
  const recipients: Recipient[] = Array.from({ length: RECIPIENTS }, (_, i) => ({ address: `customer-${i}-${tag}@example.test`, name: `Customer ${i}` }));
  await dovecot.addUsers([...senders, ...recipients].map((u) => ({ user: u.address, password: PASS })));

  const sendEnv = Object.fromEntries(['SEND_BATCH_SIZE', 'SEND_CONCURRENCY'].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])));
  // Incoming sync stays out of the way: one initial cycle per mailbox, then hourly.
  const bed = await TestBed.create({ SYNC_DEFAULT_INTERVAL_SECONDS: '3600', SYNC_MAX_IDLE_INTERVAL_SECONDS: '3600', ...sendEnv });
  try {
    const sample = await new MailComposer({
      from: senders[0],
      to: recipients[0],
      subject: `Quote ${tag} #0`,
      text: body(0).text,
      html: body(0).html,
      messageId: `<${randomUUID()}@example.test>`,
    })
      .compile()
      .build();
    console.log(
      `${EMAILS} emails, ${(sample.length / 1024).toFixed(1)} KB each (multipart/alternative text + HTML, display names, one recipient of ${RECIPIENTS})`,
    );
    console.log(`Product: SEND_BATCH_SIZE ${bed.config.send.batchSize}, SEND_CONCURRENCY ${bed.config.queues.sendConcurrency}`);

    // ---------------------------------------------------------------- baseline
    const meter = new CpuMeter(bed, [
      { name: 'Postfix', marker: postfix.marker },
      { name: 'Dovecot', marker: dovecot.marker },
    ]);
    /** Nodemailer's pool, warmed up, then timed until every promise resolved; CPU until every message was delivered. */
    const runBaseline = async (label: string) => {
      const transport = createTransport({ pool: true, host: postfix.host, port: postfix.port, secure: false, ignoreTLS: true, auth: { user: senders[0].address, pass: PASS } });
      const send = async (count: number) => {
        const sent: { address: string; messageId: string }[] = [];
        const started = performance.now();
        await Promise.all(
          Array.from({ length: count }, async (_, i) => {
            const { text, html } = body(i);
            const to = recipientOf(recipients, i);
            const messageId = `<${randomUUID()}@example.test>`;
            await transport.sendMail({ from: senders[0], to, subject: `Quote ${tag} #${i}`, text, html, messageId });
            sent.push({ address: to.address, messageId });
          }),
        );
        return { ms: performance.now() - started, sent };
      };
      await send(WARM_UP);
      await eventually('Postfix idle', async () => (await postfix.queueSize()) === 0, DELIVERY_TIMEOUT_MS, 200);
      const cpuBefore = await meter.sample();
      const run = await send(EMAILS);
      transport.close();
      await waitDelivered(postfix, groupByAddress(run.sent), label);
      const cpu = CpuMeter.diff(cpuBefore, await meter.sample());
      console.log(`  ${label}: ${(run.ms / 1000).toFixed(2)} s, all ${EMAILS} delivered`);
      return { ms: run.ms, cpu };
    };
    // Rounds alternate with the product's, as the machine's pace drifts: a product round is set
    // against the mean of the baseline rounds either side of it.
    const baselines = [await runBaseline('baseline, round 1')];

    // ---------------------------------------------------------------- product
    const profile = await bed.admin.createProfile(
      dovecotProfile('Bench Postfix', dovecot, { outgoingHost: postfix.host, outgoingPort: postfix.port, outgoingSecurity: 'none', minPollingIntervalSeconds: 3600 }),
    );
    const users: string[] = [];
    const mailboxIds: string[] = [];
    for (const s of senders) {
      const user = await bed.admin.createUser({ fullName: s.name, email: s.address });
      const mailbox = await bed.admin.createMailbox({ emailAddress: s.address, profileId: profile.id, ownerUserId: user.id, password: PASS, emailApproved: true });
      users.push(user.id);
      mailboxIds.push(mailbox.id);
    }
    await bed.query(`UPDATE mailboxes SET outgoing_enabled = true WHERE id = ANY($1)`, [mailboxIds]);
    await bed.startWorkers();
    await eventually('every mailbox synced once', async () => {
      const [{ n }] = await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM mailboxes WHERE id = ANY($1) AND last_sync_completed_at IS NOT NULL`, [mailboxIds]);
      return n === mailboxIds.length;
    });

    /** Queues emails as a CRM does, rows and parties in one statement; returns their ids and when they were committed (database clock). */
    const queue = async (owners: string[], label: string): Promise<{ ids: string[]; committedAt: Date; insertMs: number }> => {
      const started = performance.now();
      const subjects = owners.map((_, i) => `Quote ${tag} ${label} #${i}`);
      const texts = owners.map((_, i) => body(i).text);
      const htmls = owners.map((_, i) => body(i).html);
      const rcpt = owners.map((_, i) => recipientOf(recipients, i));
      const rows = await bed.query<{ id: string }>(
        `WITH e AS (
           INSERT INTO email_activities (direction, status, owner_user_id, subject, body_text, body_html, queued_at)
           SELECT 'outgoing', 'pending_send', o.owner, o.subject, o.text, o.html, now()
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS o(owner, subject, text, html)
           RETURNING id, subject),
         p AS (
           INSERT INTO email_parties (email_activity_id, role, address, display_name)
           SELECT e.id, 'to', r.address, r.name FROM e JOIN unnest($2::text[], $5::text[], $6::text[]) AS r(subject, address, name) USING (subject))
         SELECT id FROM e`,
        [owners, subjects, texts, htmls, rcpt.map((r) => r.address), rcpt.map((r) => r.name)],
      );
      // The product sees the rows from their commit on: the CRM's own insert is not its time.
      const insertMs = performance.now() - started;
      const [{ now }] = await bed.query<{ now: Date }>('SELECT clock_timestamp() AS now');
      return { ids: rows.map((r) => r.id), committedAt: now, insertMs };
    };

    interface Timed {
      ids: string[];
      /** From the commit to the first accepted (the start-up), to the last accepted, to the last sent (its Sent copy saved); database clock. */
      firstMs: number;
      acceptedMs: number;
      /** The CRM's insert, not in the times above. */
      insertMs: number;
      sentMs: number;
    }
    const runProduct = async (owners: string[], label: string): Promise<Timed> => {
      const { ids, committedAt, insertMs } = await queue(owners, label);
      await eventually(
        `${label}: ${ids.length} emails sent`,
        async () => {
          const [r] = await bed.query<{ sent: number; failed: number }>(
            `SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*) FILTER (WHERE status = 'failed')::int AS failed
               FROM email_activities WHERE id = ANY($1)`,
            [ids],
          );
          if (r.failed > 0) throw new Error(`${r.failed} emails failed`);
          return r.sent === ids.length;
        },
        RUN_TIMEOUT_MS,
        // The timings are the rows' own timestamps; polling less leaves the CPU to the product.
        500,
      );
      const [t] = await bed.query<{ first_ms: number; accepted_ms: number; sent_ms: number }>(
        `SELECT extract(epoch FROM min(smtp_accepted_at) - $2) * 1000 AS first_ms,
                extract(epoch FROM max(smtp_accepted_at) - $2) * 1000 AS accepted_ms,
                extract(epoch FROM max(sent_copy_saved_at) - $2) * 1000 AS sent_ms
           FROM email_activities WHERE id = ANY($1)`,
        [ids, committedAt],
      );
      return { ids, insertMs, firstMs: Number(t.first_ms), acceptedMs: Number(t.accepted_ms), sentMs: Number(t.sent_ms) };
    };
    const sentCopies = async () => {
      let n = 0;
      for (const s of senders) n += (await postfix.deliveredTo(s.address, 'Sent')).length;
      return n;
    };
    const verify = async (run: Timed, label: string) => {
      const rows = await bed.query<{ address: string; message_id: string }>(
        `SELECT p.address, e.message_id FROM email_activities e JOIN email_parties p ON p.email_activity_id = e.id AND p.role = 'to' WHERE e.id = ANY($1)`,
        [run.ids],
      );
      await waitDelivered(postfix, groupByAddress(rows.map((r) => ({ address: r.address, messageId: r.message_id }))), label);
    };

    const spread = (count: number) => Array.from({ length: count }, (_, i) => users[i % users.length]);
    // The product's only IMAP logins while it sends are for Sent copies (incoming sync is hourly).
    const imapLogins = () => dovecot.loginCount();
    const describe = (r: Timed, logins: number) =>
      `${(r.sentMs / 1000).toFixed(2)} s, all ${r.ids.length} delivered (the CRM's insert: ${r.insertMs.toFixed(0)} ms); first accepted ${r.firstMs.toFixed(0)} ms after the commit, ` +
      `last copy ${(r.sentMs - r.acceptedMs).toFixed(0)} ms after the last acceptance; ${logins} IMAP logins for the Sent copies`;
    await runProduct(spread(WARM_UP * MAILBOXES), 'warm-up');
    const copiesBefore = await sentCopies();
    const rounds: { many: Timed; cpu: Map<string, number> }[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      await bed.query('VACUUM ANALYZE email_activities');
      await eventually('Postfix idle', async () => (await postfix.queueSize()) === 0, DELIVERY_TIMEOUT_MS, 200);
      const cpuBefore = await meter.sample();
      const loginsBefore = await imapLogins();
      const many = await runProduct(spread(EMAILS), `${MAILBOXES} mailboxes, round ${round}`);
      await verify(many, `product, ${MAILBOXES} mailboxes`);
      rounds.push({ many, cpu: CpuMeter.diff(cpuBefore, await meter.sample()) });
      console.log(`  product, ${MAILBOXES} mailboxes, round ${round}: ${describe(many, (await imapLogins()) - loginsBefore)}`);
      await eventually('Postfix idle', async () => (await postfix.queueSize()) === 0, DELIVERY_TIMEOUT_MS, 500);
      baselines.push(await runBaseline(`baseline, round ${round + 1}`));
    }
    await bed.query('VACUUM ANALYZE email_activities');
    const loginsBeforeSingle = await imapLogins();
    const single = await runProduct(Array.from({ length: EMAILS }, () => users[0]), '1 mailbox');
    await verify(single, 'product, 1 mailbox');
    console.log(`  product, 1 mailbox: ${describe(single, (await imapLogins()) - loginsBeforeSingle)}`);
    const copies = (await sentCopies()) - copiesBefore;
    if (copies !== (ROUNDS + 1) * EMAILS) throw new Error(`${copies} copies in the Sent folders, expected ${(ROUNDS + 1) * EMAILS}`);

    // ---------------------------------------------------------------- latency
    await eventually('Postfix idle', async () => (await postfix.queueSize()) === 0, DELIVERY_TIMEOUT_MS, 500);
    const latencies: number[] = [];
    for (let i = 0; i < SINGLES; i++) {
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 600));
      const {
        ids: [id],
      } = await queue([users[i % users.length]], `single ${i}`);
      const [row] = await eventually(
        `single email ${i} sent`,
        async () => {
          const rows = await bed.query<{ ms: number }>(
            `SELECT extract(epoch FROM smtp_accepted_at - queued_at) * 1000 AS ms FROM email_activities WHERE id = $1 AND status = 'sent'`,
            [id],
          );
          return rows.length > 0 && rows;
        },
        60_000,
        20,
      );
      latencies.push(Number(row.ms));
    }
    latencies.sort((a, b) => a - b);

    // ---------------------------------------------------------------- report
    const rate = (ms: number) => (EMAILS / ms) * 1000;
    const baselineRates = baselines.map((b) => rate(b.ms));
    const median = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);
    console.log('');
    console.log(
      `Sending ${EMAILS} emails to Postfix, emails/s (product: from the commit of the CRM's insert; "accepted": the last one's 250, "sent": also its Sent copy saved; ` +
        'each product round against the mean of the baseline rounds either side of it)',
    );
    console.log('sender                                  | accepted |  sent | accepted/baseline | sent/baseline');
    baselineRates.forEach((r, i) => console.log(`${`nodemailer pool, round ${i + 1}`.padEnd(39)} | ${pad(r.toFixed(0), 8)} |     - |                 - |             -`));
    const row = (label: string, r: Timed, base: number) =>
      console.log(
        [
          label.padEnd(39),
          pad(rate(r.acceptedMs).toFixed(0), 8),
          pad(rate(r.sentMs).toFixed(0), 5),
          pad((rate(r.acceptedMs) / base).toFixed(2), 17),
          pad((rate(r.sentMs) / base).toFixed(2), 13),
        ].join(' | '),
      );
    const ratios = rounds.map(({ many }, i) => {
      const base = (baselineRates[i] + baselineRates[i + 1]) / 2;
      row(`product, ${MAILBOXES} mailboxes × ${EMAILS / MAILBOXES}, round ${i + 1}`, many, base);
      return rate(many.sentMs) / base;
    });
    // The single mailbox ran after the last baseline round.
    row(`product, 1 mailbox × ${EMAILS}`, single, baselineRates[baselineRates.length - 1]);
    const ratio = median(ratios);
    console.log(
      `Goal: product (${MAILBOXES} mailboxes, sent) / baseline >= ${RATIO_GOAL}, the median of ${ROUNDS} rounds: ${ratio.toFixed(2)}, ${ratio >= RATIO_GOAL ? 'met' : 'missed'}`,
    );
    console.log('');
    console.log(`CPU per email, ms, from the first send until every message was delivered (product: ${MAILBOXES} mailboxes, Sent copies included; all rounds)`);
    console.log('component                                                         | baseline | product');
    const perEmail = (runs: Map<string, number>[]) => {
      const sum = new Map<string, number>();
      for (const cpu of runs) for (const [name, ms] of cpu) sum.set(name, (sum.get(name) ?? 0) + ms / (EMAILS * runs.length));
      return sum;
    };
    const baselineCpu = perEmail(baselines.map((b) => b.cpu));
    const productCpu = perEmail(rounds.map((r) => r.cpu));
    let baseTotal = 0;
    let productTotal = 0;
    for (const [name, ms] of productCpu) {
      const b = baselineCpu.get(name) ?? 0;
      baseTotal += b;
      productTotal += ms;
      console.log(`${name.padEnd(65)} | ${pad(b.toFixed(2), 8)} | ${pad(ms.toFixed(2), 7)}`);
    }
    console.log(`${'total'.padEnd(65)} | ${pad(baseTotal.toFixed(2), 8)} | ${pad(productTotal.toFixed(2), 7)}`);
    const p50 = quantile(latencies, 0.5);
    const p95 = quantile(latencies, 0.95);
    console.log('');
    console.log(`Latency of ${SINGLES} single emails on an idle system, queued_at -> smtp_accepted_at: p50 ${p50.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms, max ${latencies[latencies.length - 1].toFixed(0)} ms`);
    console.log(`Goal: p50 < ${P50_GOAL_MS} ms: ${p50 < P50_GOAL_MS ? 'met' : 'missed'} (Dynamics picks up pending email every 5 minutes)`);
  } finally {
    await bed.close();
    await postfix.stop();
    await dovecot.destroy();
  }
}

runBenchmark(main);
