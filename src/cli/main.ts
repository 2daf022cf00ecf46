import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Presets, SingleBar } from 'cli-progress';
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { ApiTokens } from '../admin/apiTokens';
import { AdminError } from '../admin/errors';
import { MailboxService } from '../admin/mailboxService';
import { loadConfig } from '../config';
import { migrateUp, verifySchema } from '../db/migrate';
import { createPool } from '../db/pool';
import { loadKeySpec, SecretBox } from '../secrets/secretBox';
import { loadLocalEnv } from '../start/localEnv';
import { createDataConverter } from '../temporal/dataConverter';

const USAGE = `Usage: npm run cli -- <command> [options]

  migrate                                  apply pending database migrations
  user create --name N --email E [--tracking all|crm_records|replies_to_crm]
  profile create --name N --type imap --host H --port P [--security none|starttls|tls]
                 [--max-connections 10] [--min-poll-seconds 60] [--process-from 2026-01-01]
                 [--timeout-seconds 30]
  mailbox create --email E --profile PROFILE_ID [--user USER_ID] [--username U] [--folders INBOX,Work]
                 [--approve] [--disabled]     password from MAILBOX_PASSWORD, or --password-stdin
  mailbox map MAILBOX_ID --user USER_ID [--confirm]   map to a user; --confirm takes it from its holder
  mailbox approve MAILBOX_ID      approve the mailbox's email address
  mailbox test-and-enable MAILBOX_ID   test each direction, enable those that pass
  mailbox enable MAILBOX_ID       re-enable incoming sync without testing
  mailbox disable MAILBOX_ID      stop incoming sync (returns once stopped)
  mailbox sync-now MAILBOX_ID     start the mailbox's workflow if needed and sync at once
  mailbox password MAILBOX_ID     set a new password (MAILBOX_PASSWORD or --password-stdin)
  mailbox status MAILBOX_ID [--watch]   the mailbox, its statistics and the workflow's live status;
                                  --watch shows a running sync's progress bar until the cycle ends
  alerts [--mailbox MAILBOX_ID]   recent alerts
  rotate-secrets                  re-encrypt stored secrets with the first key of SECRET_KEYS
  token create --role admin|user [--user USER_ID] [--label L]
                                  an admin API token; printed once, only its hash is stored

Every id printed is a UUID; output is JSON.`;

const OPTIONS = {
  name: { type: 'string' },
  email: { type: 'string' },
  tracking: { type: 'string' },
  type: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  security: { type: 'string' },
  'max-connections': { type: 'string' },
  'min-poll-seconds': { type: 'string' },
  'process-from': { type: 'string' },
  'timeout-seconds': { type: 'string' },
  profile: { type: 'string' },
  user: { type: 'string' },
  username: { type: 'string' },
  folders: { type: 'string' },
  disabled: { type: 'boolean' },
  approve: { type: 'boolean' },
  confirm: { type: 'boolean' },
  mailbox: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  role: { type: 'string' },
  label: { type: 'string' },
  watch: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function readPassword(fromStdin: boolean | undefined): string {
  const password = fromStdin ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : process.env.MAILBOX_PASSWORD;
  if (!password) throw new UsageError('A password is needed: set MAILBOX_PASSWORD or pass --password-stdin');
  return password;
}

class UsageError extends Error {}

/** A progress bar for the mailbox's running sync, until the cycle ends (or nothing runs). */
async function watchProgress(admin: MailboxService, mailboxId: string): Promise<void> {
  const bar = new SingleBar(
    { format: '{folder} [{bar}] {value}/{total} messages | {percentage}% | ETA {eta_formatted}', noTTYOutput: true, notTTYSchedule: 1000 },
    Presets.shades_classic,
  );
  let started = false;
  let live: Awaited<ReturnType<MailboxService['liveStatus']>>;
  for (;;) {
    const { progress } = await admin.getMailbox(mailboxId);
    live = await admin.liveStatus(mailboxId);
    if (progress) {
      if (!started) bar.start(progress.itemsTotal, progress.itemsDone, { folder: progress.folder });
      started = true;
      bar.setTotal(progress.itemsTotal);
      bar.update(progress.itemsDone, { folder: progress.folder });
    } else if (started || live?.state !== 'syncing') {
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!started) return;
  if (live?.lastOutcome?.status === 'synced') bar.update(bar.getTotal());
  bar.stop();
}

function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

async function main(argv: string[]): Promise<void> {
  const { values: o, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const [group, action, target] = positionals;
  if (o.help || !group) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  loadLocalEnv();
  const config = loadConfig();
  if (group === 'migrate') {
    const applied = await migrateUp(config.databaseUrl, () => undefined);
    print({ applied });
    return;
  }
  await verifySchema(config.databaseUrl);
  if (`${group} ${action ?? ''}` === 'token create') {
    // Needs the database only, not Temporal.
    const tokenPool = createPool(config.databaseUrl, 1);
    try {
      print(await new ApiTokens(tokenPool).create({ role: o.role as never, userId: o.user, label: o.label }));
    } finally {
      await tokenPool.end();
    }
    return;
  }
  const pool = createPool(config.databaseUrl, 2);
  const connection = await Connection.connect({ address: config.temporal.address });
  const keySpec = loadKeySpec(config.secrets);
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: createDataConverter(keySpec) });
  const admin = new MailboxService(pool, new SecretBox(keySpec), temporal, config.temporal.taskQueuePrefix);
  try {
    const command = `${group} ${action ?? ''}`.trim();
    const needTarget = () => {
      if (!target) throw new UsageError(`${command} needs a mailbox id`);
      return z.uuid({ message: `"${target}" is not a mailbox id (UUID)` }).parse(target);
    };
    switch (command) {
      case 'user create':
        print(await admin.createUser({ fullName: o.name ?? '', email: o.email ?? '', trackingOption: o.tracking as never }));
        break;
      case 'profile create':
        print(
          await admin.createProfile({
            name: o.name ?? '',
            serverType: o.type as never,
            incomingHost: o.host,
            incomingPort: o.port,
            incomingSecurity: o.security as never,
            maxConcurrentConnections: o['max-connections'],
            minPollingIntervalSeconds: o['min-poll-seconds'],
            processEmailFrom: o['process-from'],
            connectionTimeoutSeconds: o['timeout-seconds'],
          }),
        );
        break;
      case 'mailbox create':
        print(
          await admin.createMailbox({
            emailAddress: o.email ?? '',
            profileId: o.profile ?? '',
            ownerUserId: o.user,
            username: o.username,
            password: readPassword(o['password-stdin']),
            folders: o.folders?.split(',').map((f) => f.trim()),
            incomingEnabled: !o.disabled,
            emailApproved: o.approve ?? false,
          }),
        );
        break;
      case 'mailbox map':
        print(await admin.mapMailbox(needTarget(), { userId: o.user ?? '', confirm: o.confirm ?? false }));
        break;
      case 'mailbox approve':
        print(await admin.approveMailbox(needTarget()));
        break;
      case 'mailbox test-and-enable':
        print(await admin.testAndEnable(needTarget()));
        break;
      case 'mailbox enable':
        print(await admin.enableMailbox(needTarget()));
        break;
      case 'mailbox disable':
        print(await admin.disableMailbox(needTarget()));
        break;
      case 'alerts':
        print(await admin.listAlerts({ mailboxId: o.mailbox }));
        break;
      case 'mailbox sync-now':
        await admin.syncNow(needTarget());
        print({ syncRequested: target });
        break;
      case 'mailbox password':
        await admin.updateMailbox(needTarget(), { password: readPassword(o['password-stdin']) });
        print({ passwordChanged: target });
        break;
      case 'mailbox status': {
        const id = needTarget();
        if (o.watch) await watchProgress(admin, id);
        print({ mailbox: await admin.getMailbox(id), workflow: await admin.liveStatus(id) });
        break;
      }
      case 'rotate-secrets':
        print({ rotated: await admin.rotateSecrets() });
        break;
      default:
        throw new UsageError(`Unknown command "${command}"\n\n${USAGE}`);
    }
  } finally {
    await pool.end();
    await connection.close();
  }
}

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof AdminError) {
    console.error(`${err.message}${err.details ? `\n${JSON.stringify(err.details, null, 2)}` : ''}`);
  } else if (err instanceof z.ZodError) {
    console.error(`Invalid input: ${err.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ')}`);
  } else {
    console.error(err instanceof Error ? err.message : String(err));
  }
  process.exit(err instanceof UsageError || err instanceof z.ZodError || err instanceof AdminError ? 2 : 1);
});
