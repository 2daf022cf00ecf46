/**
 * The Graph fake for npm run bench:graph, in a process of its own, as a real Graph service is: its
 * work (serialising pages of HTML messages) does not share the product's event loop.
 *
 * Argument: JSON { mailboxes: [{ mail, count, subject? }] }. Starts the fake with its control API
 * (/_fake/…), gives each mailbox `count` customer messages with HTML bodies in its Inbox, then
 * prints one JSON line, GraphFakeFacts. Ends when its stdin closes (the benchmark ended or died) or
 * on SIGTERM.
 */
import { startGraphFake } from '../graphFake/server';
import { customerMessage } from '../support/exchange';

export interface GraphFakeProcessSpec {
  mailboxes: { mail: string; count: number; subject?: string }[];
}

/** What the benchmark needs to reach the fake; the control API is under `${authorityHost}/_fake/`. */
export interface GraphFakeFacts {
  graphBaseUrl: string;
  authorityHost: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** Size of one message's HTML body. */
  bodyBytes: number;
}

const paragraph = (n: number) =>
  `<p style="font-family:Calibri">Dear customer ${n}, thank you for your order. <a href="https://shop.example/orders/${n}">Order ${n}</a> ships this week; ` +
  'the invoice follows separately. Regards, the <b>sales</b> team.</p>';
const body = (n: number) => `<html><head><style>p{margin:0}</style></head><body>${Array.from({ length: 12 }, () => paragraph(n)).join('\n')}</body></html>`;

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as GraphFakeProcessSpec;
  const fake = await startGraphFake({ users: spec.mailboxes.map(({ mail }) => ({ mail })), controlApi: true });
  for (const { mail, count, subject } of spec.mailboxes) {
    fake.mailbox(mail).addMessages('inbox', count, (i) =>
      customerMessage(i, mail, { ...(subject ? { subject: `${subject} ${i}` } : {}), body: { contentType: 'html', content: body(i) } }));
  }
  const stop = () => void fake.close().finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.stdin.once('end', stop).resume();
  const facts: GraphFakeFacts = {
    graphBaseUrl: fake.graphBaseUrl,
    authorityHost: fake.authorityHost,
    tenantId: fake.tenantId,
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    bodyBytes: Buffer.byteLength(body(1)),
  };
  process.stdout.write(`${JSON.stringify(facts)}\n`);
}

main().catch((err: Error) => {
  console.error(`graphFakeProcess: ${err.stack ?? err.message}`);
  process.exit(1);
});
