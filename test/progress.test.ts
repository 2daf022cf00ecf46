import { spawn } from 'node:child_process';
import path from 'node:path';
import { makeMessages } from './support/messages';
import { CountingTcpProxy } from './support/tcpProxy';
import { dovecotProfile, eventually, useBedWithDovecot } from './support/testBed';

const t = useBedWithDovecot({ SYNC_BATCH_SIZE: '25' });
let link: CountingTcpProxy | undefined;
afterAll(async () => link?.close());

it('reports a long initial sync\'s progress in the API view and as a CLI progress bar', async () => {
  const total = 1500;
  const user = 'progress@example.test';
  await t.dovecot.addUser(user, 'secret');
  await t.dovecot.deliver(user, makeMessages(total, { to: user, body: 'y'.repeat(4000) }));
  // A 4 Mbit/s link keeps the sync of these 6.5 MB running for about 13 s: the CLI, which takes a
  // few seconds to start on a loaded machine, must find it in progress.
  link = await CountingTcpProxy.start(t.dovecot.host, t.dovecot.imapPort, { bitsPerSecond: 4_000_000 });
  const profile = await t.bed.admin.createProfile(dovecotProfile('Progress Dovecot', { host: link.host, imapPort: link.port }));
  const mailbox = await t.bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId: profile.id, password: 'secret' });

  const cli = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'src', 'cli', 'main.ts'), 'mailbox', 'status', mailbox.id, '--watch'], {
    env: { ...process.env, ...t.bed.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  cli.stdout.on('data', (d: Buffer) => (output += d.toString()));
  cli.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));

  const seen = await eventually(
    'a sync in progress',
    async () => {
      const { progress } = await t.bed.admin.getMailbox(mailbox.id);
      return progress && progress.itemsDone > 0 && progress.itemsDone < total ? progress : undefined;
    },
    60_000,
    20,
  );
  expect(seen).toMatchObject({ folder: 'INBOX', itemsTotal: total });
  expect(typeof seen.startedAt).toBe('string');

  await eventually('the sync finished', async () => (await t.bed.admin.getMailbox(mailbox.id)).statistics.lastSuccessAt !== null, 120_000);
  expect((await t.bed.admin.getMailbox(mailbox.id)).progress).toBeNull();
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]);
  expect(code).toBe(0);
  expect(output).toMatch(new RegExp(`INBOX \\[[^\\]]*\\] ${total}/${total} messages \\| 100%`));
  expect(output).toContain('"lastSuccessAt"');
});
