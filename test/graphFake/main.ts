import { parseArgs } from 'node:util';
import { startGraphFake } from './server';

/**
 * `npm run graph-fake [-- --port 8443]`: the Graph fake for people, with demo users and mail, and the
 * settings an exchange_online profile needs to reach it.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: process.env.GRAPH_FAKE_PORT ?? '8443' },
      tenant: { type: 'string', default: process.env.GRAPH_FAKE_TENANT_ID ?? '72f988bf-86f1-41af-91ab-2d7cd011db47' },
      'client-id': { type: 'string', default: process.env.GRAPH_FAKE_CLIENT_ID ?? '6731de76-14a6-49ae-97bc-6eba6914391e' },
      'client-secret': { type: 'string', default: process.env.GRAPH_FAKE_CLIENT_SECRET ?? 'fake-graph-secret' },
      'sent-delay-ms': { type: 'string', default: '1500' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('npm run graph-fake -- [--port 8443] [--tenant GUID] [--client-id GUID] [--client-secret S] [--sent-delay-ms 1500]');
    return;
  }
  const fake = await startGraphFake({
    port: Number(values.port),
    tenantId: values.tenant,
    sentItemsDelayMs: Number(values['sent-delay-ms']),
    controlApi: true,
    users: [
      { id: '87d349ed-44d7-43e1-9a83-5f2406dee5bd', mail: 'adele.vance@contoso.example', displayName: 'Adele Vance' },
      { id: '6e7b768e-07e2-4810-8459-485f84f8f204', mail: 'alex.wilber@contoso.example', displayName: 'Alex Wilber' },
      { id: '5bde3e51-d13b-4db1-9948-fe4b109d11a7', mail: 'megan.bowen@contoso.example', displayName: 'Megan Bowen' },
      { id: '074e56ea-0b50-4461-89e5-c67ae14a2c0b', mail: 'no.licence@contoso.example', displayName: 'No Licence', hasMailbox: false },
    ],
    defaultApp: { clientId: values['client-id'], clientSecret: values['client-secret'] },
  });
  for (const user of fake.users.filter((u) => u.hasMailbox)) {
    const mailbox = fake.mailbox(user.id);
    mailbox.addFolder('Customers');
    const day = 24 * 3600 * 1000;
    mailbox.addMessages('inbox', 20, (i) => ({
      subject: `Order ${1000 + i}`, receivedDateTime: new Date(Date.now() - (20 - i) * day).toISOString().replace(/\.\d+Z$/, 'Z'),
      body: { contentType: 'html', content: `<p>Hello ${user.displayName}, about order ${1000 + i}.</p>` },
    }));
    mailbox.addMessages('Customers', 5, (i) => ({ subject: `Contract ${i + 1}` }));
    mailbox.addContact({ givenName: 'Pat', surname: 'Fabrikam', emailAddresses: [{ address: 'pat@fabrikam.example', name: 'Pat Fabrikam' }], companyName: 'Fabrikam' });
    const tomorrow = new Date(Date.now() + day).toISOString().slice(0, 10);
    mailbox.addEvent({ subject: 'Quarterly review', start: { dateTime: `${tomorrow}T09:00:00`, timeZone: 'UTC' }, end: { dateTime: `${tomorrow}T10:00:00`, timeZone: 'UTC' } });
    mailbox.addTask(mailbox.taskLists()[0].id!, { title: 'Call Pat back' });
  }
  const lines = [
    `Graph fake listening on ${fake.graphBaseUrl} (Graph v1.0 and the Entra ID token endpoint)`,
    '',
    'exchange_online profile settings:',
    `  tenant id        ${fake.tenantId}`,
    `  client id        ${fake.clientId}`,
    `  client secret    ${fake.clientSecret}`,
    `  graph base URL   ${fake.graphBaseUrl}`,
    `  authority host   ${fake.authorityHost}`,
    `  or a certificate instead of the secret: thumbprint (SHA-256) ${fake.certificate.thumbprintSha256},`,
    `  certificate and key in ${fake.caFile.replace(/ca\.pem$/, '')}client.pem and client.key.pem`,
    '',
    'Mailboxes:',
    ...fake.users.map((u) => `  ${u.mail.padEnd(32)} ${u.id}${u.hasMailbox ? '' : '  (no Exchange licence)'}`),
    '',
    'Trust the fake in every process that talks to it (Node reads this only at start):',
    `  export NODE_EXTRA_CA_CERTS=${fake.caFile}`,
    '',
    'Control (JSON over the same port, no token):',
    `  curl --cacert ${fake.caFile} -X POST ${fake.authorityHost}/_fake/users/adele.vance@contoso.example/messages -d '{"count":3,"subject":"Hello"}'`,
    `  curl --cacert ${fake.caFile} -X POST ${fake.authorityHost}/_fake/script/throttle -d '{"fraction":0.5,"retryAfterSeconds":[1,5],"forMs":30000}'`,
    `  (also script/expireDeltaTokens, script/failNext, script/slow, script/duplicates, script/reset; GET _fake/log?last=50)`,
  ];
  console.log(lines.join('\n'));
  const stop = () => {
    void fake.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: Error) => {
  console.error(`graph-fake: ${err.message}`);
  process.exit(1);
});
