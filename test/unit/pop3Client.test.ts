/**
 * The POP3 client's multi-line replies against a scripted server on loopback: the message's bytes
 * come back exactly (8-bit, dot-stuffed lines, a terminator split anywhere across reads), and
 * commands issued together run one at a time.
 */
import * as net from 'node:net';
import { Pop3Client, unstuff } from '../../src/mail/pop3/pop3Client';
import { receivedDate } from '../../src/mail/pop3/pop3MailSource';

const MESSAGE = Buffer.concat([
  Buffer.from('Subject: dots\r\n\r\n.starts with a dot\r\n..two dots\r\nlatin-1: '),
  Buffer.from([0xe9, 0xe8, 0xff]),
  Buffer.from('\r\n.\r\nnot the end\r\n'),
]);

/** What a server sends for the message: every line starting with a dot gets one more. */
function stuffed(message: Buffer): Buffer {
  const text = message.toString('latin1').replace(/(^|\r\n)\./g, '$1..');
  return Buffer.from(text, 'latin1');
}

/** A POP3 server whose RETR answer is written in pieces cut at `cut` bytes; it records the commands it got. */
async function server(cut: number): Promise<{ port: number; received: string[]; close: () => Promise<void> }> {
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((sock) => {
    sockets.add(sock);
    sock.write('+OK ready\r\n');
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        received.push(line);
        if (line === 'RETR 1') {
          const answer = Buffer.concat([Buffer.from('+OK 99 octets\r\n'), stuffed(MESSAGE), Buffer.from('.\r\n')]);
          sock.write(answer.subarray(0, cut));
          setTimeout(() => sock.write(answer.subarray(cut)), 5);
        } else if (line === 'UIDL') sock.write('+OK\r\n1 aaa\r\n2 bbb\r\n.\r\n');
        else if (line === 'LIST') sock.write('+OK\r\n1 120\r\n2 7\r\n.\r\n');
        else sock.write('+OK\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  return {
    port,
    received,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}

const endpoint = (port: number) => ({ host: '127.0.0.1', port, security: 'none' as const, username: 'u', password: 'p', connectionTimeoutMs: 2000 });

describe('Pop3Client', () => {
  const answerLength = 15 + stuffed(MESSAGE).length + 3;
  it.each([1, 15, 16, answerLength - 5, answerLength - 4, answerLength - 3, answerLength - 2, answerLength - 1])(
    'returns the message byte for byte when the reply is cut after %i bytes',
    async (cut) => {
      const s = await server(cut);
      try {
        const client = await Pop3Client.open(endpoint(s.port));
        await client.login('u', 'p');
        expect((await client.retr(1)).equals(MESSAGE)).toBe(true);
        expect(await client.uidl()).toEqual([
          { number: 1, uidl: 'aaa' },
          { number: 2, uidl: 'bbb' },
        ]);
        await client.quit();
      } finally {
        await s.close();
      }
    },
  );

  it('runs commands issued together one after another, in call order', async () => {
    const s = await server(40);
    try {
      const client = await Pop3Client.open(endpoint(s.port));
      await client.login('u', 'p');
      const [message, sizes] = await Promise.all([client.retr(1), client.list(), client.dele(2)]);
      expect(message.equals(MESSAGE)).toBe(true);
      expect(sizes).toEqual(new Map([[1, 120], [2, 7]]));
      await client.quit();
      expect(s.received).toEqual(['USER u', 'PASS p', 'RETR 1', 'LIST', 'DELE 2', 'QUIT']);
    } finally {
      await s.close();
    }
  });
});

describe('unstuff', () => {
  it('removes the first dot of each line that starts with one, and nothing else', () => {
    expect(unstuff(Buffer.from('..a\r\nb.c\r\n...\r\n')).toString()).toBe('.a\r\nb.c\r\n..\r\n');
    expect(unstuff(Buffer.from('plain\r\n')).toString()).toBe('plain\r\n');
  });
});

describe('receivedDate', () => {
  it('takes the date of the topmost Received field, folded or not', () => {
    const raw = Buffer.from(
      'Received: from a.test by b.test\r\n\twith LMTP id x; Tue, 01 Dec 2026 08:00:00 +0100 (CET)\r\nReceived: from c by d; Mon, 30 Nov 2026 00:00:00 +0000\r\nSubject: s\r\n\r\nbody',
    );
    expect(receivedDate(raw)?.toISOString()).toBe('2026-12-01T07:00:00.000Z');
  });

  it('is null without a Received field, or with one whose date does not parse', () => {
    expect(receivedDate(Buffer.from('Subject: s\r\n\r\nReceived: in the body; Tue, 01 Dec 2026 08:00:00 +0000'))).toBeNull();
    expect(receivedDate(Buffer.from('Received: from a; not a date\r\n\r\n'))).toBeNull();
  });
});
