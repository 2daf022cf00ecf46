/**
 * npx tsx test/bench/parse.ts [--dump FILE] — parse time per message on the MIME corpus and on a plain
 * 2 KB message, printed; with --dump, the parsed form of every corpus message as JSON, to compare parsers.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseMimeMessage } from '../../src/mail/mimeParser';
import { makeMessage } from '../support/messages';

const CORPUS = process.env.CORPUS_DIR ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'corpus', 'mime');

function corpusFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return corpusFiles(p);
    return name === 'LICENSE' || statSync(p).size === 0 ? [] : [p];
  });
}

/** µs per message: the fastest of 7 timed runs, as other load on the machine only ever slows a run down. */
async function timePerMessage(messages: Buffer[], rounds: number): Promise<number> {
  for (const m of messages) await parseMimeMessage(m).catch(() => undefined);
  let fastest = Infinity;
  for (let run = 0; run < 7; run++) {
    const started = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) for (const m of messages) await parseMimeMessage(m).catch(() => undefined);
    fastest = Math.min(fastest, Number(process.hrtime.bigint() - started) / 1000 / (rounds * messages.length));
  }
  return fastest;
}

async function main(): Promise<void> {
  const files = corpusFiles(CORPUS);
  const corpus = files.map((f) => readFileSync(f));
  const plain = Buffer.from(makeMessage({ body: 'x'.repeat(2000) }));
  const dumpAt = process.argv.indexOf('--dump');
  if (dumpAt > 0) {
    const out: Record<string, unknown> = {};
    for (const [i, f] of files.entries()) {
      out[path.relative(CORPUS, f)] = await parseMimeMessage(corpus[i]).then(
        (m) => ({ ...m, attachmentContent: m.attachmentContent.map((c) => c.length) }),
        (e: Error) => ({ error: e.message }),
      );
    }
    writeFileSync(process.argv[dumpAt + 1], JSON.stringify(out, null, 1));
  }
  console.log(`corpus: ${files.length} messages, ${(await timePerMessage(corpus, 5)).toFixed(0)} µs per message`);
  console.log(`plain 2 KB message: ${(await timePerMessage([plain], 2000)).toFixed(0)} µs per message`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
