import { z } from 'zod';
import { AdminError } from '../admin/errors';
import { loadConfig } from '../config';
import { loadLocalEnv } from '../start/localEnv';
import { CLI, commandHelp, describeInvalidInput, findCommand, overview, parseCommandLine, suggest, UsageError, type Command } from './command';
import { accountCommands } from './commands/account';
import { alertCommands } from './commands/alerts';
import { appointmentCommands } from './commands/appointment';
import { contactCommands } from './commands/contact';
import { emailCommands } from './commands/email';
import { fieldDirectionCommands } from './commands/fieldDirection';
import { itemErrorCommands } from './commands/itemErrors';
import { leadCommands } from './commands/lead';
import { mailboxCommands } from './commands/mailbox';
import { meCommands } from './commands/me';
import { migrateCommands } from './commands/migrate';
import { organizationCommands } from './commands/organization';
import { profileCommands } from './commands/profile';
import { queueCommands } from './commands/queue';
import { secretsCommands } from './commands/secrets';
import { syncFilterCommands } from './commands/syncFilter';
import { taskCommands } from './commands/task';
import { tokenCommands } from './commands/token';
import { userCommands } from './commands/user';
import { CliContext } from './context';

/** `npm run cli -- <command>`: finds the command, parses its options, runs it, prints JSON, exits 0, 1 or 2. */

const COMMANDS: Command[] = [
  ...migrateCommands,
  ...userCommands,
  ...profileCommands,
  ...mailboxCommands,
  ...itemErrorCommands,
  ...alertCommands,
  ...organizationCommands,
  ...tokenCommands,
  ...contactCommands,
  ...leadCommands,
  ...accountCommands,
  ...queueCommands,
  ...emailCommands,
  ...appointmentCommands,
  ...taskCommands,
  ...syncFilterCommands,
  ...fieldDirectionCommands,
  ...meCommands,
  ...secretsCommands,
];

const GROUPS = [...new Set(COMMANDS.map((c) => c.path[0]))];

const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Help text, or null when the words name no command or group. */
function helpFor(words: string[]): string | null {
  if (words.length === 0) return overview(COMMANDS);
  const found = findCommand(COMMANDS, words);
  if (found && found.rest.length === 0) return commandHelp(found.command);
  if (words.length === 1 && GROUPS.includes(words[0])) return overview(COMMANDS, words[0]);
  return null;
}

function unknownCommand(words: string[]): UsageError {
  const group = words[0];
  if (GROUPS.includes(group) && words.length > 1) {
    const actions = COMMANDS.filter((c) => c.path[0] === group).map((c) => c.path.slice(1).join(' '));
    return new UsageError(`Unknown command "${words.join(' ')}"${suggest(words[1], actions)}. ${group} has: ${actions.join(', ')}.`);
  }
  return new UsageError(`Unknown command "${words.join(' ')}"${suggest(group, GROUPS)}. Run \`${CLI} help\` for the list.`);
}

async function main(argv: string[]): Promise<number> {
  const firstOption = argv.findIndex((a) => a.startsWith('-'));
  const words = firstOption < 0 ? argv : argv.slice(0, firstOption);
  if (words[0] === 'help' || argv.length === 0 || (words.length === 0 && /^(-h|--help)$/.test(argv[0]))) {
    const topic = words[0] === 'help' ? words.slice(1) : [];
    const help = helpFor(topic);
    if (help === null) throw unknownCommand(topic);
    process.stdout.write(`${help}\n`);
    return EXIT.ok;
  }
  const found = findCommand(COMMANDS, argv);
  if (!found) {
    if (words.length === 1 && GROUPS.includes(words[0])) {
      process.stderr.write(`"${words[0]}" needs a command.\n\n${overview(COMMANDS, words[0])}\n`);
      return EXIT.usage;
    }
    throw unknownCommand(words);
  }
  const { command } = found;
  const { opts, args, help } = parseCommandLine(command, found.rest);
  if (help) {
    process.stdout.write(`${commandHelp(command)}\n`);
    return EXIT.ok;
  }
  loadLocalEnv();
  const ctx = new CliContext(loadConfig());
  try {
    const outcome = await command.run({ opts: opts as never, args }, ctx);
    process.stdout.write(`${JSON.stringify(outcome.output, null, 2)}\n`);
    return outcome.failed ? EXIT.failed : EXIT.ok;
  } catch (err) {
    if (err instanceof z.ZodError) throw new UsageError(describeInvalidInput(command, err));
    throw err;
  } finally {
    await ctx.close();
  }
}

function report(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof AdminError) {
    process.stderr.write(`${err.message}${err.details ? `\n${JSON.stringify(err.details, null, 2)}` : ''}\n`);
    return err.statusCode === 400 ? EXIT.usage : EXIT.failed;
  }
  // Values the schemas let through but the database refuses (a reference to a record that does not exist, ...).
  const pgCode = (err as { code?: unknown }).code;
  if (typeof pgCode === 'string' && /^(22|23)/.test(pgCode)) {
    process.stderr.write(`The database refused the value: ${(err as Error).message}\n`);
    return EXIT.usage;
  }
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  return EXIT.failed;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => process.exit(report(err)),
);
