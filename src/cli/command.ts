import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import type { CliContext } from './context';

/**
 * One declaration per command: its words, what it does, its arguments and options. Parsing, help
 * and the flag named in an error all come from it, so they cannot drift apart.
 */

export interface OptionSpec {
  type: 'string' | 'boolean';
  description: string;
  /** The value's name in help (`--port PORT`). */
  placeholder?: string;
  /** The field of the operation's input this option fills: errors about that field name the option. */
  field?: string;
  /** Shown in help. When absent, help shows the default of `field` in the command's `schema`, if it has one. */
  default?: string;
  required?: boolean;
  /** The option may be given several times (`--to a --to b`): its value is the list, in order. */
  multiple?: boolean;
}

export interface ArgSpec {
  name: string;
  description: string;
  /** The argument is the UUID of a record: checked before anything runs. */
  uuid?: boolean;
  field?: string;
}

type Values<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K]['type'] extends 'boolean' ? boolean | undefined : O[K]['multiple'] extends true ? string[] | undefined : string | undefined;
};

export interface Outcome {
  /** Printed as JSON on stdout. */
  output: unknown;
  /** The command ran, but what it reports is a failure (a Test & Enable whose test failed): exit 1. */
  failed?: boolean;
}

export interface Command<O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  /** The words that name it: ['mailbox', 'create']. */
  path: string[];
  /** Other words that run it (`alerts` for `alerts list`). */
  aliases?: string[][];
  summary: string;
  /** More paragraphs for its help. */
  details?: string[];
  args?: ArgSpec[];
  options: O;
  /** The operation's input schema: help shows its defaults for the options' fields. */
  schema?: z.ZodObject;
  run(input: { opts: Values<O>; args: string[] }, ctx: CliContext): Promise<Outcome>;
}

export const command = <O extends Record<string, OptionSpec>>(c: Command<O>): Command => c as unknown as Command;

export const CLI = 'npm run cli --';

export const EXIT_CODES = [
  'Exit codes: 0 success; 1 the command ran but its outcome is a failure (a Test & Enable whose test failed, a',
  '            record that does not exist, a conflict, an unreachable server); 2 a usage error (unknown command or',
  '            option, a missing or invalid value).',
];

/** A mistake in how the CLI was called: exit code 2, with the message and where to find help. */
export class UsageError extends Error {}

// Help -----------------------------------------------------------------------------------------

function schemaDefault(schema: z.ZodObject | undefined, field: string | undefined): string | undefined {
  const type = field ? schema?.shape[field] : undefined;
  if (!(type instanceof z.ZodDefault)) return undefined;
  const value: unknown = type.def.defaultValue;
  // An empty list is no default worth showing (`--to`: none unless given).
  if (Array.isArray(value)) return value.length > 0 ? value.join(',') : undefined;
  return String(value);
}

const optionLabel = (name: string, o: OptionSpec) => `--${name}${o.type === 'string' ? ` ${o.placeholder ?? 'VALUE'}` : ''}${o.multiple ? '...' : ''}`;

const usageLine = (c: Command) =>
  [CLI, ...c.path, ...(c.args ?? []).map((a) => a.name), ...(Object.keys(c.options).length ? ['[options]'] : [])].join(' ');

function table(rows: [string, string][], indent = 2): string[] {
  const width = Math.min(Math.max(...rows.map(([l]) => l.length)) + 2, 34);
  return rows.map(([label, text]) => `${' '.repeat(indent)}${label.length + 2 > width ? `${label}\n${' '.repeat(indent + width)}` : label.padEnd(width)}${text}`);
}

export function commandHelp(c: Command): string {
  const lines = [`Usage: ${usageLine(c)}`, '', c.summary, ...(c.details ?? []).flatMap((d) => ['', d])];
  if (c.args?.length) lines.push('', 'Arguments:', ...table(c.args.map((a) => [a.name, a.description])));
  const options: [string, string][] = Object.entries(c.options).map(([name, o]) => {
    const fallback = o.default ?? schemaDefault(c.schema, o.field);
    return [optionLabel(name, o), `${o.description}${o.multiple ? ' (repeatable)' : ''}${o.required ? ' (required)' : ''}${fallback !== undefined ? ` (default: ${fallback})` : ''}`];
  });
  options.push(['-h, --help', 'this help']);
  lines.push('', 'Options:', ...table(options), '', ...EXIT_CODES);
  return lines.join('\n');
}

export function overview(commands: Command[], group?: string): string {
  const shown = commands.filter((c) => !group || c.path[0] === group);
  return [
    `Usage: ${CLI} <command> [arguments] [options]`,
    '',
    group ? `Commands of "${group}":` : 'Commands:',
    ...table(shown.map((c) => [[...c.path, ...(c.args ?? []).map((a) => a.name)].join(' '), c.summary])),
    '',
    `\`${CLI} help <command>\` or \`${CLI} <command> --help\` lists a command's options and their defaults.`,
    'Output is JSON; every id is a UUID. Settings come from the environment, or from .data/env that `npm start` writes.',
    ...EXIT_CODES,
  ].join('\n');
}

// Parsing --------------------------------------------------------------------------------------

/** The command named by the leading words of argv (longest match), and the rest of argv. */
export function findCommand(commands: Command[], argv: string[]): { command: Command; rest: string[] } | null {
  let best: { command: Command; rest: string[] } | null = null;
  for (const c of commands) {
    for (const words of [c.path, ...(c.aliases ?? [])]) {
      if (words.every((w, i) => argv[i] === w) && (!best || words.length > argv.length - best.rest.length)) {
        best = { command: c, rest: argv.slice(words.length) };
      }
    }
  }
  return best;
}

function closest(word: string, candidates: string[]): string | undefined {
  const distance = (a: string, b: string) => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length][b.length];
  };
  const [best] = candidates.map((c) => ({ c, d: distance(word, c) })).sort((x, y) => x.d - y.d);
  return best && best.d <= 2 ? best.c : undefined;
}

export const suggest = (word: string, candidates: string[]) => {
  const match = closest(word, candidates);
  return match ? ` (did you mean ${match}?)` : '';
};

const helpHint = (c: Command) => `Run \`${CLI} ${c.path.join(' ')} --help\` for its options.`;

/** argv's options and arguments, as the command declares them; a UsageError naming the flag otherwise. */
export function parseCommandLine(
  c: Command,
  argv: string[],
): { opts: Record<string, string | string[] | boolean | undefined>; args: string[]; help: boolean } {
  const options: ParseArgsConfig['options'] = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(c.options)) options[name] = { type: o.type, multiple: o.multiple ?? false };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const flag = /'(-[^' ]+)/.exec((err as Error).message)?.[1] ?? '';
    const where = `for "${c.path.join(' ')}"`;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const known = Object.keys(c.options).map((n) => `--${n}`);
      throw new UsageError(`Unknown option ${flag} ${where}${suggest(flag, known)}. ${helpHint(c)}`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const takesValue = c.options[flag.replace(/^--/, '')]?.type === 'string';
      throw new UsageError(`${flag} ${takesValue ? 'needs a value' : 'takes no value'}. ${helpHint(c)}`);
    }
    throw new UsageError(`${(err as Error).message}. ${helpHint(c)}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return { opts: {}, args: [], help: true };
  const declared = c.args ?? [];
  if (positionals.length > declared.length) {
    throw new UsageError(`Unexpected argument "${positionals[declared.length]}" ${`for "${c.path.join(' ')}"`}. ${helpHint(c)}`);
  }
  declared.forEach((a, i) => {
    const value = positionals[i];
    if (value === undefined) throw new UsageError(`"${c.path.join(' ')}" needs ${a.name}. ${helpHint(c)}`);
    if (a.uuid && !z.uuid().safeParse(value).success) throw new UsageError(`${a.name}: "${value}" is not an id (a UUID)`);
  });
  for (const [name, o] of Object.entries(c.options)) {
    if (o.required && values[name] === undefined) throw new UsageError(`--${name} is required. ${helpHint(c)}`);
  }
  return { opts: values as Record<string, string | string[] | boolean | undefined>, args: positionals, help: false };
}

/** A zod error, in the words the user typed: `--port: ...` rather than `incomingPort: ...`. */
export function describeInvalidInput(c: Command, err: z.ZodError): string {
  const flags = new Map<string, string>();
  for (const [name, o] of Object.entries(c.options)) if (o.field) flags.set(o.field, `--${name}`);
  for (const a of c.args ?? []) if (a.field) flags.set(a.field, a.name);
  const problems = err.issues.map((i) => {
    const [head, ...tail] = i.path.map(String);
    const where = head === undefined ? 'value' : [flags.get(head) ?? head, ...tail].join('.');
    return `${where}: ${i.message}`;
  });
  return `Invalid input: ${problems.join('; ')}. ${helpHint(c)}`;
}
