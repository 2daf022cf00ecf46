import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** The shared real-world MIME corpus: beside the checkout (CI clones next to shared/); CORPUS_DIR overrides. */
export const CORPUS_DIR = process.env.CORPUS_DIR ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'corpus', 'mime');

/** Every message file of the corpus (at least 100, else it is not the corpus the tests were written for). */
export function corpusFiles(dir = CORPUS_DIR): string[] {
  const files = walk(dir);
  if (files.length < 100) throw new Error(`Expected the corpus of 100+ messages in ${dir}, found ${files.length}`);
  return files;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return walk(p);
    // The corpus' empty sample is no message: no server accepts a zero-length APPEND or DATA.
    return name === 'LICENSE' || statSync(p).size === 0 ? [] : [p];
  });
}
