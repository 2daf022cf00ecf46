import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseMimeMessage } from '../../src/mail/mimeParser';
import { CORPUS_DIR, corpusFiles } from '../support/corpus';


it('parses every message of the real-world corpus into something storable', async () => {
  const files = corpusFiles();
  for (const file of files) {
    const raw = readFileSync(file);
    const m = await parseMimeMessage(raw);
    const where = path.relative(CORPUS_DIR, file);
    expect({ where, id: m.messageId.length > 0 && m.messageId.length <= 500 }).toEqual({ where, id: true });
    expect({ where, digest: m.contentDigest }).toEqual({ where, digest: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect({ where, sentAt: m.sentAt === null || !Number.isNaN(m.sentAt.getTime()) }).toEqual({ where, sentAt: true });
    // Everything stored must survive PostgreSQL text and JSON: no NUL, no lone surrogate.
    const stored = JSON.stringify({ ...m, attachmentContent: undefined });
    expect({ where, storable: !/\\u0000|[\uD800-\uDFFF]/.test(stored.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '')) }).toEqual({ where, storable: true });
    expect({ where, contents: m.attachmentContent.map((c) => c.length) }).toEqual({ where, contents: m.attachments.map((a) => a.size) });
  }
});
