/**
 * Test & Enable for Exchange Online mailboxes, against the Graph fake through Temporal: the token,
 * incoming (the Inbox's delta), outgoing (a draft created and deleted, nothing sent) and
 * appointments/contacts/tasks, each with its own result; a refused token, a missing permission,
 * an unknown user and a user without an Exchange licence each named as such.
 */
import type { NewProfileInput } from '../src/admin/schemas';
import { exchangeProfile } from './support/exchange';
import { startGraphFake, type GraphFake } from './support/graphFake';
import { TestBed } from './support/testBed';

let bed: TestBed;
let fake: GraphFake;
let seq = 0;

beforeAll(async () => {
  fake = await startGraphFake({
    users: [
      { mail: 'adele@contoso.example', displayName: 'Adele Vance' },
      { mail: 'grady@contoso.example', displayName: 'Grady Archie' },
      { mail: 'henrietta@contoso.example', displayName: 'Henrietta Mueller' },
      { mail: 'unlicensed@contoso.example', displayName: 'No Licence', hasMailbox: false },
    ],
  });
  bed = await TestBed.create();
  await bed.startWorkers();
});

afterAll(async () => {
  await bed?.close();
  await fake?.close();
});

async function mailboxFor(address: string, app: Partial<NewProfileInput> = {}) {
  const profile = await bed.admin.createProfile(exchangeProfile(`Exchange ${++seq}`, fake, app));
  return bed.admin.createMailbox({ emailApproved: true, emailAddress: address, profileId: profile.id, incomingEnabled: false });
}

const checks = (result: { checks?: { name: string; status: string }[] }) => Object.fromEntries((result.checks ?? []).map((c) => [c.name, c.status]));

it('passes every direction for a licensed user of an app with every permission, and leaves no draft behind', async () => {
  const mailbox = await mailboxFor('adele@contoso.example');
  const result = await bed.admin.testAndEnable(mailbox.id);

  expect(checks(result.incoming)).toEqual({ Token: 'success', Inbox: 'success' });
  expect(checks(result.outgoing)).toEqual({ Token: 'success', Drafts: 'success' });
  expect(checks(result.items)).toEqual({ Token: 'success', Contacts: 'success', Calendar: 'success', 'To Do': 'success' });
  expect(result.incomingEnabled).toBe(true);
  expect(fake.mailbox('adele@contoso.example').list('drafts')).toHaveLength(0);
  // The draft really was made and removed on the server.
  const writes = fake.requestLog.filter((r) => r.userId !== null && (r.method === 'POST' || r.method === 'DELETE')).map((r) => `${r.method} ${r.status}`);
  expect(writes).toEqual(expect.arrayContaining(['POST 201', 'DELETE 204']));
});

it('fails every direction with the AADSTS code when the client secret is wrong, and disables incoming', async () => {
  const mailbox = await mailboxFor('grady@contoso.example', { clientSecret: 'not-the-secret' });
  const result = await bed.admin.testAndEnable(mailbox.id);

  for (const direction of [result.incoming, result.outgoing, result.items]) {
    expect(direction).toMatchObject({ status: 'failure', errorClass: 'permanent' });
    expect(direction.message).toContain('AADSTS7000215');
    expect(checks(direction)).toEqual({ Token: 'failure' });
  }
  expect(result.incomingEnabled).toBe(false);
  expect((await bed.admin.getMailbox(mailbox.id)).incoming).toMatchObject({ enabled: false, status: 'failure' });
});

it('reports each kind of item on its own when the app lacks their permissions', async () => {
  const mailOnly = fake.addApp({ permissions: ['Mail.ReadWrite', 'Mail.Send', 'Contacts.ReadWrite'] });
  const mailbox = await mailboxFor('henrietta@contoso.example', { clientId: mailOnly.clientId, clientSecret: mailOnly.clientSecret });
  const result = await bed.admin.testAndEnable(mailbox.id);

  expect(result.incoming.status).toBe('success');
  expect(result.outgoing.status).toBe('success');
  expect(result.items).toMatchObject({ status: 'failure', errorClass: 'permanent' });
  expect(checks(result.items)).toEqual({ Token: 'success', Contacts: 'success', Calendar: 'failure', 'To Do': 'failure' });
  expect(result.items.message).toMatch(/Calendar: Microsoft Graph refused the request \(ErrorAccessDenied\)/);
});

it.each([
  ['an unknown user', 'nobody@contoso.example', /ErrorInvalidUser\): the mailbox does not exist in the tenant/],
  ['a user without an Exchange licence', 'unlicensed@contoso.example', /MailboxNotEnabledForRESTAPI\): the user has no Exchange Online mailbox/],
])('names %s in every direction', async (_name, address, message) => {
  const mailbox = await mailboxFor(address);
  const result = await bed.admin.testAndEnable(mailbox.id);

  expect(result.incoming).toMatchObject({ status: 'failure', errorClass: 'permanent' });
  expect(result.incoming.message).toMatch(message);
  expect(result.outgoing.message).toMatch(message);
  expect(result.incomingEnabled).toBe(false);
});
