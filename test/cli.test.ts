import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeMessages } from './support/messages';
import { dovecotProfile, useBedWithDovecot } from './support/testBed';

// The real CLI, as `npm run cli` runs it, in a child process against this file's database, the
// shared Temporal and its own Dovecot.

const ROOT = path.resolve(__dirname, '..');
const ctx = useBedWithDovecot();
// Each command is a fresh Node process loading the CLI through tsx (about 2 s here); a test running
// 20 of them beside a heavy suite on CI's two cores has taken more than twice as long.
const MANY_COMMANDS_MS = 300_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: () => any;
}

function cli(args: string[], env: Record<string, string> = {}, input?: string): Promise<Run> {
  const base: NodeJS.ProcessEnv = { ...process.env, ...ctx.bed.env, LOG_LEVEL: 'warn', ...env };
  if (!env.MAILBOX_PASSWORD) delete base.MAILBOX_PASSWORD;
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), ...args],
      { cwd: ROOT, env: base, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) });
      },
    );
    if (input !== undefined) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

/** Runs and expects exit code 0; returns the parsed JSON output. */
async function ok(args: string[], env: Record<string, string> = {}): Promise<any> {
  const run = await cli(args, env);
  if (run.code !== 0) throw new Error(`cli ${args.join(' ')}: exit ${run.code}\n${run.stderr}\n${run.stdout}`);
  return run.json();
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at .+[jt]s:\d+/m);

describe('help', () => {
  it('`help` lists every command group and the exit codes', async () => {
    const run = await cli(['help']);
    expect(run.code).toBe(0);
    for (const line of ['mailbox create', 'mailbox list', 'mailbox delete MAILBOX_ID', 'profile list', 'user list', 'alerts list', 'contact create', 'email list']) {
      expect(run.stdout).toContain(line);
    }
    expect(run.stdout).toMatch(/Exit codes: 0 success; 1 .*; 2 a usage error/s);
  });

  it('`mailbox create --help` and `help mailbox create` list its options, their meaning and defaults', async () => {
    const [flag, word] = await Promise.all([cli(['mailbox', 'create', '--help']), cli(['help', 'mailbox', 'create'])]);
    expect([flag.code, word.code]).toEqual([0, 0]);
    expect(word.stdout).toBe(flag.stdout);
    expect(flag.stdout).toMatch(/--email ADDRESS +the mailbox's email address \(required\)/);
    expect(flag.stdout).toMatch(/--folders LIST +folders to sync, comma-separated \(default: INBOX\)/);
    expect(flag.stdout).toMatch(/--password-stdin/);
    expect(flag.stdout).toContain('MAILBOX_PASSWORD');
    // Defaults come from the service's own schema.
    expect((await cli(['profile', 'create', '--help'])).stdout).toMatch(/--max-connections N .*\(default: 10\)/);
  });

  it("shows and sets the organisation's settings, naming the flag of a bad value", async () => {
    expect(await ok(['organization', 'show'])).toMatchObject({ requireEmailApproval: true, maxAttachmentBytes: 5 * 1024 * 1024, trackingTokenPrefix: 'CRM' });
    expect(await ok(['organization', 'set', '--max-attachment-bytes', '2048'])).toMatchObject({ requireEmailApproval: true, maxAttachmentBytes: 2048 });
    for (const [flag, value] of [
      ['--require-approval', 'maybe'],
      ['--token-prefix', 'MY CRM'],
      ['--token-counter-digits', '10'],
      ['--default-tracking', 'most'],
      ['--delete-task-from-exchange', 'sometimes'],
    ]) {
      const bad = await cli(['organization', 'set', flag, value]);
      expect({ flag, code: bad.code }).toEqual({ flag, code: 2 });
      expect(bad.stderr).toMatch(new RegExp(flag));
    }
    expect((await cli(['organization', 'set', '--delete-contact-from-crm', 'always'])).stderr).toMatch(/"dynamics"\|"delete"\|"unlink"/);
    expect(await ok(['organization', 'set', '--delete-contact-from-crm', 'unlink', '--delete-task-from-exchange', 'unlink'])).toMatchObject({
      itemsDeleteContactFromCrm: 'unlink',
      itemsDeleteContactFromExchange: 'dynamics',
      itemsDeleteTaskFromExchange: 'unlink',
    });
    await ok(['organization', 'set', '--delete-contact-from-crm', 'dynamics', '--delete-task-from-exchange', 'dynamics']);
    expect((await cli(['organization', 'set', '--calendar-days-ahead', '0'])).stderr).toMatch(/--calendar-days-ahead: Too small/);
    expect(await ok(['organization', 'set', '--calendar-days-back', '90', '--calendar-days-ahead', '180'])).toMatchObject({ itemsCalendarDaysBack: 90, itemsCalendarDaysAhead: 180 });
    await ok(['organization', 'set', '--calendar-days-back', '30', '--calendar-days-ahead', '365']);
    expect(
      await ok(['organization', 'set', '--own-domains', 'crm.test, Partner.test', '--smart-matching', 'yes', '--token-prefix', 'ACME', '--default-tracking', 'crm_records']),
    ).toMatchObject({ ownDomains: ['crm.test', 'partner.test'], smartMatching: true, trackingTokenPrefix: 'ACME', defaultTrackingOption: 'crm_records' });
    expect(await ok(['organization', 'set', '--max-attachment-bytes', String(5 * 1024 * 1024), '--own-domains', '', '--smart-matching', 'no', '--token-prefix', 'CRM', '--default-tracking', 'all'])).toMatchObject({
      maxAttachmentBytes: 5 * 1024 * 1024,
      ownDomains: [],
      smartMatching: false,
      trackingTokenPrefix: 'CRM',
      defaultTrackingOption: 'all',
    });
  });

  it('describes a user token as what it is, not as an admin token', async () => {
    const help = (await cli(['token', 'create', '--help'])).stdout;
    expect(help).toMatch(/A user token: only that user's mailbox/);
    const user = await ok(['user', 'create', '--name', 'Tina Token', '--email', 'tina@example.test']);
    expect(await ok(['user', 'update', user.id, '--tracking', 'email_enabled_records', '--create-contacts', 'yes'])).toMatchObject({
      trackingOption: 'email_enabled_records',
      createContactsForUnknownSenders: true,
    });
    const token = await ok(['token', 'create', '--role', 'user', '--user', user.id]);
    expect(token).toMatchObject({ role: 'user', userId: user.id, token: expect.stringMatching(/^cms_/), mayDo: expect.stringMatching(/^A user token/) });
    expect(JSON.stringify(token)).not.toMatch(/admin/i);
  });
});

describe('usage errors: exit code 2 and one clean line', () => {
  it('names an unknown flag, suggests the right one and where to get help', async () => {
    const run = await cli(['profile', 'create', '--name', 'P', '--type', 'imap', '--prot', '993']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/Unknown option --prot for "profile create" \(did you mean --port\?\)\. Run `npm run cli -- profile create --help`/);
    noStackTrace(run.stderr);
  });

  it('names the flag the user typed for a bad value, not the internal field', async () => {
    const run = await cli(['profile', 'create', '--name', 'Bad port', '--type', 'imap', '--host', '127.0.0.1', '--port', 'abc']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^Invalid input: --port: /);
    expect(run.stderr).not.toContain('incomingPort');
    noStackTrace(run.stderr);
    expect(await ctx.bed.query(`SELECT id FROM email_server_profiles WHERE name = 'Bad port'`)).toEqual([]);
  });

  it('refuses unknown commands, a missing argument and a malformed id', async () => {
    const unknown = await cli(['mailbox', 'crate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown command "mailbox crate" \(did you mean create\?\)/);
    const missing = await cli(['mailbox', 'status']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/needs MAILBOX_ID/);
    const malformed = await cli(['mailbox', 'status', '42']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/MAILBOX_ID: "42" is not an id/);
    for (const run of [unknown, missing, malformed]) noStackTrace(run.stderr);
  });
});

describe('list and delete', () => {
  it('lists the users, profiles, mailboxes, alerts and CRM records created, and deletes profiles and mailboxes', async () => {
    const user = await ok(['user', 'create', '--name', 'Lisa List', '--email', 'lisa@example.test']);
    const profile = await ok(['profile', 'create', '--name', 'Listed', '--type', 'imap', '--host', '127.0.0.1', '--port', '1', '--security', 'none']);
    const mailbox = await ok(['mailbox', 'create', '--email', 'lisa@example.test', '--profile', profile.id, '--user', user.id, '--disabled'], {
      MAILBOX_PASSWORD: 'lisa-Pa55',
    });
    await ctx.bed.query(`INSERT INTO alerts (level, scope, audiences, condition_key, mailbox_id, message) VALUES ('warning', 'mailbox', '{admins}', 'listed', $1, 'Listed alert')`, [mailbox.id]);
    const contact = await ok(['contact', 'create', '--name', 'Cleo Contact', '--email', 'cleo@customer.test']);

    expect((await ok(['user', 'list'])).map((u: any) => u.id)).toContain(user.id);
    expect((await ok(['profile', 'list'])).map((p: any) => p.id)).toContain(profile.id);
    expect((await ok(['mailbox', 'list', '--user', user.id])).map((m: any) => m.id)).toEqual([mailbox.id]);
    expect(await ok(['mailbox', 'set', mailbox.id, '--token', 'custom', '--token-prefix', 'LISA', '--track-sent', 'yes', '--sent-folder', 'Sent Items'])).toMatchObject({
      trackingToken: { mode: 'custom', prefix: 'LISA' },
      trackSentFolder: true,
      sentFolder: 'Sent Items',
    });
    const noPrefix = await cli(['mailbox', 'set', mailbox.id, '--token-prefix', 'LI SA']);
    expect([noPrefix.code, noPrefix.stderr]).toEqual([2, expect.stringMatching(/--token-prefix: A tracking token prefix must not contain spaces or colons/)]);
    expect((await ok(['alerts', 'list', '--mailbox', mailbox.id])).map((a: any) => a.message)).toEqual(['Listed alert']);
    expect((await ok(['alerts', '--mailbox', mailbox.id])).map((a: any) => a.message)).toEqual(['Listed alert']);
    await ctx.bed.query(`UPDATE alerts SET resolved_at = now() WHERE mailbox_id = $1`, [mailbox.id]);
    expect(await ok(['alerts', 'list', '--mailbox', mailbox.id])).toEqual([]);
    expect((await ok(['alerts', 'list', '--status', 'resolved', '--mailbox', mailbox.id])).map((a: any) => a.message)).toEqual(['Listed alert']);
    expect((await ok(['contact', 'list', '--email', 'CLEO@customer.test'])).map((c: any) => c.id)).toEqual([contact.id]);
    expect(await ok(['contact', 'update', contact.id, '--email', ''])).toMatchObject({ id: contact.id, email: null });

    // A profile in use cannot go: exit 1 (the command ran; its outcome is a conflict).
    const inUse = await cli(['profile', 'delete', profile.id]);
    expect(inUse.code).toBe(1);
    expect(await ok(['mailbox', 'delete', mailbox.id])).toEqual({ deleted: mailbox.id });
    expect(await ok(['profile', 'delete', profile.id])).toEqual({ deleted: profile.id });
    expect((await ok(['mailbox', 'list'])).map((m: any) => m.id)).not.toContain(mailbox.id);
    expect((await ok(['profile', 'list'])).map((p: any) => p.id)).not.toContain(profile.id);
    expect(await ctx.bed.query(`SELECT id FROM mailboxes WHERE id = $1`, [mailbox.id])).toEqual([]);
  }, MANY_COMMANDS_MS);
});

describe('queues', () => {
  it('creates, shows, changes and deletes a queue, and maps a mailbox to it after confirming the conflict', async () => {
    const queue = await ok(['queue', 'create', '--name', 'Help Desk', '--email', 'helpdesk@example.test', '--tracking-option', 'crm_records']);
    expect(queue).toMatchObject({ name: 'Help Desk', email: 'helpdesk@example.test', trackingOption: 'crm_records' });
    expect((await ok(['queue', 'list', '--email', 'HELPDESK@example.test'])).map((q: any) => q.id)).toEqual([queue.id]);
    expect(await ok(['queue', 'update', queue.id, '--tracking-option', 'all'])).toMatchObject({ id: queue.id, trackingOption: 'all' });
    // The option always has a value: "" is refused, not a clearing.
    const cleared = await cli(['queue', 'update', queue.id, '--tracking-option', '']);
    expect(cleared.code).toBe(2);
    expect(cleared.stderr).toContain('--tracking-option');

    const user = await ok(['user', 'create', '--name', 'Desk Holder', '--email', 'desk-holder@example.test']);
    const profile = await ok(['profile', 'create', '--name', 'Queues', '--type', 'imap', '--host', '127.0.0.1', '--port', '1', '--security', 'none']);
    const mailbox = await ok(['mailbox', 'create', '--email', 'helpdesk@example.test', '--profile', profile.id, '--user', user.id, '--disabled'], {
      MAILBOX_PASSWORD: 'desk-Pa55',
    });
    const conflict = await cli(['mailbox', 'map', mailbox.id, '--queue', queue.id]);
    expect(conflict.code).toBe(1);
    expect(conflict.stdout + conflict.stderr).toContain('Desk Holder');
    expect(await ok(['mailbox', 'map', mailbox.id, '--queue', queue.id, '--confirm'])).toMatchObject({
      ownerUserId: null,
      owner: { type: 'queue', id: queue.id, name: 'Help Desk' },
    });
    expect((await ok(['mailbox', 'list', '--queue', queue.id])).map((m: any) => m.id)).toEqual([mailbox.id]);
    expect(await ok(['queue', 'show', queue.id])).toMatchObject({ email: 'helpdesk@example.test' });
    expect(await ok(['queue', 'delete', queue.id])).toEqual({ deleted: queue.id });
    expect(await ok(['mailbox', 'list', '--queue', queue.id])).toEqual([]);
  }, 240_000);
});

describe('against a real mail server', () => {
  it('exits 1 when Test & Enable fails; `mailbox password` names the next step, which then succeeds', async () => {
    await ctx.dovecot.addUser('gina@example.test', 'gina-RIGHT-Pa55');
    const profile = await ok(['profile', 'create', '--name', 'CLI Dovecot', '--type', 'imap', '--host', ctx.dovecot.host, '--port', String(ctx.dovecot.imapPort), '--security', 'none', '--timeout-seconds', '5']);
    expect(profile).toMatchObject(dovecotProfile('CLI Dovecot', ctx.dovecot, { minPollingIntervalSeconds: 60 }));
    const mailbox = await ok(['mailbox', 'create', '--email', 'gina@example.test', '--profile', profile.id, '--approve', '--disabled'], { MAILBOX_PASSWORD: 'gina-WRONG' });

    const failed = await cli(['mailbox', 'test-and-enable', mailbox.id]);
    expect(failed.code).toBe(1);
    expect(failed.json()).toMatchObject({ incoming: { status: 'failure', message: expect.stringMatching(/Authentication failed/) }, incomingEnabled: false });

    const changed = await cli(['mailbox', 'password', mailbox.id, '--password-stdin'], {}, 'gina-RIGHT-Pa55\n');
    expect(changed.code).toBe(0);
    expect(changed.json()).toEqual({ passwordChanged: mailbox.id, next: expect.stringContaining(`npm run cli -- mailbox test-and-enable ${mailbox.id}`) });
    expect(changed.stdout).not.toContain('gina-RIGHT-Pa55');

    await ctx.dovecot.deliver('gina@example.test', makeMessages(300, { to: 'gina@example.test' }));
    const passed = await cli(['mailbox', 'test-and-enable', mailbox.id]);
    expect(passed.code).toBe(0);
    expect(passed.json()).toMatchObject({ incoming: { status: 'success' }, incomingEnabled: true });
    expect((await ctx.bed.admin.getMailbox(mailbox.id)).incoming).toMatchObject({ enabled: true, status: 'success' });

    // The sync that enabling started: --watch follows it to its end, then prints the status.
    const watched = await cli(['mailbox', 'status', mailbox.id, '--watch']);
    expect(watched.code).toBe(0);
    expect(watched.json()).toMatchObject({ mailbox: { id: mailbox.id } });
    // Whatever bar lines it drew: never "ETA 0s" short of the end.
    expect(watched.stderr).not.toMatch(/\| ([0-9]|[1-9][0-9])% \| ETA 0s/);
    const [{ count }] = await ctx.bed.query<{ count: number }>(`SELECT count(*)::int AS count FROM item_links WHERE mailbox_id = $1`, [mailbox.id]);
    expect(count).toBeGreaterThan(0);
  }, MANY_COMMANDS_MS);
});

describe('me password', () => {
  it("changes the password of the token holder's own mailbox, and says what to do next", async () => {
    const user = await ok(['user', 'create', '--name', 'Mia Me', '--email', 'mia@example.test']);
    const profile = await ok(['profile', 'create', '--name', 'Me profile', '--type', 'imap', '--host', '127.0.0.1', '--port', '1', '--security', 'none']);
    const mailbox = await ok(['mailbox', 'create', '--email', 'mia@example.test', '--profile', profile.id, '--user', user.id, '--disabled'], {
      MAILBOX_PASSWORD: 'mia-OLD',
    });
    const { token } = await ok(['token', 'create', '--role', 'user', '--user', user.id]);

    const run = await cli(['me', 'password', '--password-stdin'], { CRM_SYNC_TOKEN: token }, 'mia-NEW-Pa55\n');
    expect(run.code).toBe(0);
    expect(run.json()).toEqual({ passwordChanged: mailbox.id, next: expect.stringContaining(`mailbox test-and-enable ${mailbox.id}`) });
    const [{ credentials }] = await ctx.bed.query<{ credentials: string }>(`SELECT credentials FROM mailboxes WHERE id = $1`, [mailbox.id]);
    expect(ctx.bed.secrets.decrypt(credentials)).toBe('mia-NEW-Pa55');

    const withoutToken = await cli(['me', 'password'], { MAILBOX_PASSWORD: 'x' });
    expect(withoutToken.code).toBe(2);
    expect(withoutToken.stderr).toMatch(/CRM_SYNC_TOKEN/);
  }, MANY_COMMANDS_MS);
});

describe('email activities', () => {
  it('`email show` has the bodies and attachments; `email attachment` saves one, or says why it cannot', async () => {
    const content = Buffer.from([0, 1, 2, 254, 255, 10, 13]);
    const sha256 = createHash('sha256').update(content).digest('hex');
    const [{ id }] = await ctx.bed.query<{ id: string }>(
      `INSERT INTO email_activities (message_id, content_digest, subject, body_text, body_html) VALUES ('<cli.1@example.test>', 'x', 'Files', 'Hi', '<p>Hi</p>') RETURNING id`,
    );
    await ctx.bed.query(`INSERT INTO attachment_contents (sha256, size, content) VALUES ($1, $2, $3)`, [sha256, content.length, content]);
    await ctx.bed.query(
      `INSERT INTO email_attachments (email_activity_id, position, filename, content_type, size, sha256, inline, stored)
       VALUES ($1, 1, 'bytes.bin', 'application/octet-stream', $2, $3, false, true), ($1, 2, 'huge.iso', 'application/x-iso9660-image', 9000000, $4, false, false)`,
      [id, content.length, sha256, 'f'.repeat(64)],
    );
    const shown = await ok(['email', 'show', id]);
    expect(shown).toMatchObject({ bodyText: 'Hi', bodyHtml: '<p>Hi</p>', attachments: [{ position: 1, stored: true }, { position: 2, stored: false }] });

    const dir = mkdtempSync(path.join(tmpdir(), 'cli-attachment-'));
    const out = path.join(dir, 'saved.bin');
    try {
      expect(await ok(['email', 'attachment', id, '1', '--out', out])).toMatchObject({ filename: 'bytes.bin', size: content.length, savedTo: out });
      expect(readFileSync(out).equals(content)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    const notKept = await cli(['email', 'attachment', id, '2', '--out', out]);
    expect(notKept.code).toBe(1);
    expect(notKept.stderr).toMatch(/\(9000000 bytes\) was over the size limit/);
    const badPosition = await cli(['email', 'attachment', id, 'first', '--out', out]);
    expect(badPosition.code).toBe(2);
    expect(badPosition.stderr).toMatch(/POSITION: /);
    for (const run of [notKept, badPosition]) noStackTrace(run.stderr);
  });
});

describe('email send', () => {
  it('queues an email with a file attached and record recipients; refuses a disabled mailbox (1) and a missing sender (2)', async () => {
    const user = await ok(['user', 'create', '--name', 'Sam Sender', '--email', 'sam@example.test']);
    const profile = await ok(['profile', 'create', '--name', 'Sending', '--type', 'imap', '--host', '127.0.0.1', '--port', '1', '--security', 'none']);
    const mailbox = await ok(['mailbox', 'create', '--email', 'sam@example.test', '--profile', profile.id, '--user', user.id, '--approve', '--disabled'], {
      MAILBOX_PASSWORD: 'sam-Pa55',
    });
    const contact = await ok(['contact', 'create', '--name', 'Rita Recipient', '--email', 'rita@customer.test']);
    const dir = mkdtempSync(path.join(tmpdir(), 'cli-send-'));
    const file = path.join(dir, 'quote.pdf');
    const content = Buffer.from('%PDF-1.4 the quote\n');
    writeFileSync(file, content);
    const args = ['email', 'send', '--from-user', user.id, '--to', `contact:${contact.id}`, '--cc', 'Ann <ann@elsewhere.test>', '--cc', 'bo@elsewhere.test',
      '--subject', 'Your quote', '--text', 'Attached.', '--attach', file, '--regarding', `contact:${contact.id}`];
    try {
      // Before Test & Enable has enabled sending: refused (exit 1), saying what to do; nothing queued.
      const disabled = await cli(args);
      expect(disabled.code).toBe(1);
      expect(disabled.stderr).toMatch(/outgoing direction is disabled\. Run Test & Enable/);
      expect(await ctx.bed.query(`SELECT id FROM email_activities WHERE owner_user_id = $1`, [user.id])).toEqual([]);

      // Test & Enable's outcome (it needs an SMTP server), as it would leave it.
      await ctx.bed.query(`UPDATE mailboxes SET outgoing_enabled = true WHERE id = $1`, [mailbox.id]);
      const email = await ok(args);
      expect(email).toMatchObject({ status: 'pending_send', direction: 'outgoing', ownerUserId: user.id, regarding: { type: 'contact', id: contact.id } });
      expect(email.parties.map((p: any) => [p.role, p.address, p.partyType])).toEqual([
        ['from', 'sam@example.test', 'user'],
        ['to', 'rita@customer.test', 'contact'],
        ['cc', 'ann@elsewhere.test', null],
        ['cc', 'bo@elsewhere.test', null],
      ]);
      expect(email.attachments).toEqual([expect.objectContaining({ position: 1, filename: 'quote.pdf', contentType: 'application/pdf', size: content.length })]);
      const [stored] = await ctx.bed.query<{ content: Buffer }>(
        `SELECT c.content FROM email_attachments t JOIN attachment_contents c ON c.sha256 = t.sha256 WHERE t.email_activity_id = $1`,
        [email.id],
      );
      expect(stored.content.equals(content)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    const noSender = await cli(['email', 'send', '--to', 'ann@elsewhere.test', '--subject', 'Hi']);
    expect(noSender.code).toBe(2);
    expect(noSender.stderr).toMatch(/--from-user USER_ID or --from-queue QUEUE_ID/);
    noStackTrace(noSender.stderr);
  }, MANY_COMMANDS_MS);
});
