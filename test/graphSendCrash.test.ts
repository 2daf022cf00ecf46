import { startGraphFake, type GraphFake } from './support/graphFake';
import { exchangeMailbox } from './support/graphMailbox';
import { eventually, TestBed } from './support/testBed';
import { killHard, spawnWorker } from './support/workerProcess';

// 100 emails queued for an Exchange Online mailbox; the worker process is SIGKILLed at 8 random
// moments while it sends them through the Graph fake. Each must be sent exactly once.
let bed: TestBed;
let fake: GraphFake;
const SENDER = 'crash.sender@contoso.example';
const RECIPIENTS = ['r1@fabrikam.example', 'r2@fabrikam.example', 'r3@fabrikam.example'];
const EMAILS = 100;
const KILLS = 8;

beforeAll(async () => {
  bed = await TestBed.create({ ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '3', SEND_BATCH_SIZE: '20', SEND_SWEEP_SECONDS: '600' });
  fake = await startGraphFake({ users: [{ mail: SENDER, displayName: 'Crash Sender' }] });
  // Every request takes a little while, so kills land inside requests as well as between them.
  fake.script.slow(20);
});

afterAll(async () => {
  await bed?.close();
  await fake?.close();
});

// Seeded, so a failing run can be repeated with the same kill points.
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

it('sends each email exactly once through Graph when the worker is killed at random moments', async () => {
  const { userId } = await exchangeMailbox(bed, fake, SENDER);
  await bed.query(
    `WITH e AS (INSERT INTO email_activities (direction, status, owner_user_id, subject, body_text, queued_at)
                SELECT 'outgoing', 'pending_send', $1, 'Crash-safe email ' || n, 'Body ' || n, now() + n * interval '1 microsecond'
                  FROM generate_series(1, $2::int) n RETURNING id, subject)
     INSERT INTO email_parties (email_activity_id, role, address)
     SELECT id, 'to', ($3::text[])[1 + (split_part(subject, ' ', 3)::int % $4::int)] FROM e`,
    [userId, EMAILS, RECIPIENTS, RECIPIENTS.length],
  );
  const accepted = async () =>
    (await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM email_activities WHERE smtp_accepted_at IS NOT NULL`))[0].n;

  const next = random(20261201);
  for (let i = 0; i < KILLS; i++) {
    const before = await accepted();
    if (before >= EMAILS) break;
    const worker = spawnWorker(bed.env);
    try {
      // A random point: after 1-12 more emails were accepted, plus up to 150 ms into the next.
      const target = Math.min(EMAILS, before + 1 + Math.floor(next() * 12));
      await eventually(`worker ${i + 1} sending`, async () => (await accepted()) >= target, 120_000, 10);
      await new Promise((resolve) => setTimeout(resolve, Math.floor(next() * 150)));
    } finally {
      await killHard(worker);
    }
  }
  const worker = spawnWorker(bed.env);
  try {
    await eventually(
      'every email sent',
      async () => (await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM email_activities WHERE status = 'sent'`))[0].n === EMAILS,
      240_000,
      500,
    );
  } finally {
    await killHard(worker);
  }

  const emails = await bed.query<{ message_id: string }>(`SELECT message_id FROM email_activities`);
  expect(new Set(emails.map((e) => e.message_id)).size).toBe(EMAILS);
  const mailbox = fake.mailbox(SENDER);
  const copies = new Map<string, number>();
  await eventually('every Sent Items copy', async () => {
    copies.clear();
    for (const m of mailbox.list('sentitems')) copies.set(m.internetMessageId!, (copies.get(m.internetMessageId!) ?? 0) + 1);
    return emails.every((e) => copies.has(e.message_id));
  });
  const duplicated = emails.filter((e) => copies.get(e.message_id) !== 1);
  for (const d of duplicated) {
    const [row] = await bed.query<{ server_draft_id: string }>(`SELECT server_draft_id FROM email_activities WHERE message_id = $1`, [d.message_id]);
    const seen = fake.requestLog.filter((r) => r.url.includes(encodeURIComponent(row.server_draft_id)) || r.url.includes(row.server_draft_id));
    console.log(`${copies.get(d.message_id)} copies of ${d.message_id}; requests naming its draft: ${JSON.stringify(seen.map((r) => [r.method, r.url.slice(0, 120), r.status]))}`);
  }
  expect(duplicated).toEqual([]);
  expect(copies.size).toBe(EMAILS);
  expect(mailbox.list('drafts')).toEqual([]);
  const sends = fake.requestLog.filter((r) => r.method === 'POST' && /\/send$/.test(r.url) && r.status === 202);
  expect(sends).toHaveLength(EMAILS);
  const lookups = fake.requestLog.filter((r) => r.method === 'GET' && /\/messages\/[^/?]+\?|mailFolders\/drafts\/messages\?/.test(r.url));
  console.log(`${KILLS} kills: ${lookups.length} lookups of interrupted emails, ${sends.length} sends`);
}, 900_000);
