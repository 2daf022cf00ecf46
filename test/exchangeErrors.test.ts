/**
 * Permanent Exchange Online errors met by a sync cycle, through Temporal against the Graph fake: a
 * wrong client secret, an app without the mail permission, and a user who does not exist each
 * disable the mailbox after one attempt, with a message that says which it is (the AADSTS or Graph
 * code kept), one alert, and no further attempts.
 */
import type { NewProfileInput } from '../src/admin/schemas';
import { exchangeMailbox, exchangeProfile } from './support/exchange';
import { startGraphFake, type GraphFake } from './support/graphFake';
import { eventually, TestBed } from './support/testBed';

let bed: TestBed;
let fake: GraphFake;
let seq = 0;

beforeAll(async () => {
  bed = await TestBed.create();
  fake = await startGraphFake({ users: [{ mail: 'ines@contoso.test' }, { mail: 'jonas@contoso.test' }] });
  await bed.startWorkers();
});

afterAll(async () => {
  await bed?.close();
  await fake?.close();
});

const withoutMail = () => fake.addApp({ permissions: ['Contacts.ReadWrite', 'Calendars.ReadWrite'] });

it.each([
  ['a wrong client secret', 'ines@contoso.test', () => ({ clientSecret: 'not-the-secret' }), /AADSTS7000215: the client secret is wrong/],
  ['an app without the mail permission', 'jonas@contoso.test', () => withoutMail(), /ErrorAccessDenied\): the app registration lacks a permission/],
  ['a user who does not exist', 'nobody@contoso.test', () => ({}), /ErrorInvalidUser\): the mailbox does not exist in the tenant/],
])('%s disables the mailbox after one attempt, saying so', async (_name, address, app, message) => {
  const profile = await bed.admin.createProfile(exchangeProfile(`Errors ${++seq}`, fake, app() as Partial<NewProfileInput>));
  const { mailboxId } = await exchangeMailbox(bed, profile.id, address);

  const view = await eventually('the mailbox disabled', async () => {
    const m = await bed.admin.getMailbox(mailboxId);
    return m.incoming.enabled ? undefined : m;
  });
  expect(view.incoming.status).toBe('failure');
  expect(view.statistics.consecutiveErrors).toBe(1);
  expect(view.statistics.lastError).toMatch(message);
  const alerts = await bed.query<{ message: string }>(`SELECT message FROM alerts WHERE mailbox_id = $1 AND resolved_at IS NULL`, [mailboxId]);
  expect(alerts).toHaveLength(1);
  expect(alerts[0].message).toMatch(message);

  // Nothing more is tried: the mailbox waits for the administrator.
  const attemptsSoFar = fake.requestLog.length;
  await new Promise((resolve) => setTimeout(resolve, 3000));
  expect(fake.requestLog.length).toBe(attemptsSoFar);
  expect((await bed.admin.getMailbox(mailboxId)).statistics.consecutiveErrors).toBe(1);
});
