import {
  canSyncIncoming,
  defaultPort,
  exchangeFolder,
  graphSettingsProblem,
  mailboxCredentialProblem,
  mailboxSettingsProblem,
  settleEndpoints,
  settleHostUrl,
  type EndpointSettings,
  type GraphProfileSettings,
} from '../../src/policy/serverProfiles';

describe('defaultPort', () => {
  it.each([
    ['imap', 'tls', 993],
    ['imap', 'starttls', 143],
    ['imap', 'none', 143],
    ['pop3', 'tls', 995],
    ['pop3', 'starttls', 110],
    ['pop3', 'none', 110],
    ['smtp', 'tls', 465],
    ['smtp', 'starttls', 587],
    ['smtp', 'none', 25],
  ] as const)('%s over %s is %d', (protocol, security, port) => {
    expect(defaultPort(protocol, security)).toBe(port);
  });
});

describe('canSyncIncoming', () => {
  it('syncs imap, pop3 and exchange_online in this version', () => {
    expect(canSyncIncoming('imap')).toBe(true);
    expect(canSyncIncoming('pop3')).toBe(true);
    expect(canSyncIncoming('exchange_online')).toBe(true);
    expect(canSyncIncoming('smtp')).toBe(false);
  });
});

describe('settleEndpoints', () => {
  const stored: EndpointSettings = {
    serverType: 'imap',
    incomingHost: 'imap.example.test',
    incomingPort: 993,
    incomingSecurity: 'tls',
    outgoingHost: 'smtp.example.test',
    outgoingPort: 587,
    outgoingSecurity: 'starttls',
  };

  it('gives a new profile the ports of its security settings', () => {
    expect(settleEndpoints(null, { serverType: 'imap', incomingHost: 'h', incomingSecurity: 'tls', outgoingHost: 's', outgoingSecurity: 'tls' })).toEqual({
      ok: true,
      incomingPort: 993,
      outgoingPort: 465,
    });
    expect(settleEndpoints(null, { serverType: 'imap', incomingHost: 'h', incomingSecurity: 'none' })).toEqual({ ok: true, incomingPort: 143, outgoingPort: null });
  });

  it('keeps the ports an administrator gave', () => {
    expect(settleEndpoints(null, { serverType: 'imap', incomingHost: 'h', incomingPort: 1993, outgoingHost: 's', outgoingPort: 2525 })).toEqual({
      ok: true,
      incomingPort: 1993,
      outgoingPort: 2525,
    });
  });

  it('refuses a server type this version cannot sync, naming what it can', () => {
    const settled = settleEndpoints(null, { serverType: 'smtp' as never, incomingHost: 'h' });
    expect(settled).toEqual({ ok: false, problem: expect.stringContaining('smtp servers is not available in this version (supported server types: imap, pop3, exchange_online)') });
  });

  it('gives an exchange_online profile no mail-server ports, and refuses mail-server hosts and ports for it', () => {
    expect(settleEndpoints(null, { serverType: 'exchange_online' })).toEqual({ ok: true, incomingPort: null, outgoingPort: null });
    expect(settleEndpoints(stored, { serverType: 'exchange_online' })).toEqual({ ok: true, incomingPort: null, outgoingPort: null });
    for (const field of ['incomingHost', 'incomingPort', 'outgoingHost', 'outgoingPort'] as const) {
      const settled = settleEndpoints(null, { serverType: 'exchange_online', [field]: field.endsWith('Port') ? 443 : 'outlook.office365.com' });
      expect(settled).toEqual({
        ok: false,
        problem: `An exchange_online profile reaches its mailboxes, incoming and outgoing, through Microsoft Graph: leave out ${field} (graphBaseUrl and authorityHost name the hosts of a cloud other than the public one)`,
      });
    }
  });

  it('lets an exchange_online profile stored without its app settings be renamed or moved to IMAP', () => {
    const legacy: EndpointSettings = { ...stored, serverType: 'exchange_online', incomingHost: null, incomingPort: null, outgoingHost: null, outgoingPort: null };
    expect(settleEndpoints(legacy, {})).toEqual({ ok: true, incomingPort: null, outgoingPort: null });
    expect(settleEndpoints(legacy, { serverType: 'imap', incomingHost: 'h' })).toEqual({ ok: true, incomingPort: 993, outgoingPort: null });
  });

  it('moves an IMAP profile to POP3 with POP3 default ports', () => {
    expect(settleEndpoints(stored, { serverType: 'pop3' })).toEqual({ ok: true, incomingPort: 995, outgoingPort: 587 });
    expect(settleEndpoints(null, { serverType: 'pop3', incomingHost: 'h', incomingSecurity: 'starttls' })).toEqual({ ok: true, incomingPort: 110, outgoingPort: null });
  });

  it('requires the incoming host', () => {
    expect(settleEndpoints(null, { serverType: 'imap' })).toEqual({ ok: false, problem: 'A profile of server type imap needs the host name of its incoming server (incomingHost)' });
    expect(settleEndpoints({ ...stored, incomingHost: null }, { incomingSecurity: 'none' })).toMatchObject({ ok: false });
  });

  it('moves a default port with a changed security setting, and leaves a chosen one', () => {
    expect(settleEndpoints(stored, { incomingSecurity: 'starttls', outgoingSecurity: 'tls' })).toEqual({ ok: true, incomingPort: 143, outgoingPort: 465 });
    expect(settleEndpoints({ ...stored, incomingPort: 1993 }, { incomingSecurity: 'starttls' })).toEqual({ ok: true, incomingPort: 1993, outgoingPort: 587 });
    expect(settleEndpoints(stored, { incomingSecurity: 'starttls', incomingPort: 10143 })).toEqual({ ok: true, incomingPort: 10143, outgoingPort: 587 });
  });

  it('fills the port of a server added later, and of a profile stored without one', () => {
    const noOutgoing: EndpointSettings = { ...stored, outgoingHost: null, outgoingPort: null };
    expect(settleEndpoints(noOutgoing, { outgoingHost: 'smtp.example.test', outgoingSecurity: 'none' })).toEqual({ ok: true, incomingPort: 993, outgoingPort: 25 });
    expect(settleEndpoints({ ...stored, incomingPort: null }, { name: 'renamed' } as Partial<EndpointSettings>)).toEqual({ ok: true, incomingPort: 993, outgoingPort: 587 });
  });
});

describe('mailboxSettingsProblem', () => {
  it('gives a POP3 mailbox one folder, INBOX (in any case)', () => {
    expect(mailboxSettingsProblem('pop3', { folders: ['INBOX'] })).toBeNull();
    expect(mailboxSettingsProblem('pop3', { folders: ['inbox'] })).toBeNull();
    expect(mailboxSettingsProblem('pop3', { folders: ['INBOX', 'Work'] })).toBe('A mailbox on a POP3 profile has one folder, INBOX: set folders to ["INBOX"]');
    expect(mailboxSettingsProblem('imap', { folders: ['INBOX', 'Work'] })).toBeNull();
  });

  it('deletes after processing on POP3 profiles only', () => {
    expect(mailboxSettingsProblem('pop3', { deleteAfterProcessing: true })).toBeNull();
    expect(mailboxSettingsProblem('imap', { deleteAfterProcessing: false })).toBeNull();
    expect(mailboxSettingsProblem('imap', { deleteAfterProcessing: true })).toBe(
      "Deleting mail after processing is available for POP3 profiles only (this mailbox's profile is imap): leave deleteAfterProcessing off",
    );
  });

  it('tracks a Sent folder on IMAP only', () => {
    expect(mailboxSettingsProblem('imap', { trackSentFolder: true })).toBeNull();
    expect(mailboxSettingsProblem('pop3', { trackSentFolder: false })).toBeNull();
    expect(mailboxSettingsProblem('pop3', { trackSentFolder: true })).toBe('A POP3 server has no Sent folder to track: leave trackSentFolder off');
  });
});

describe('exchange_online mailboxes', () => {
  it('takes folder names and well-known names, the default INBOX being the Inbox', () => {
    expect(exchangeFolder('INBOX')).toEqual({ wellKnownName: 'inbox' });
    expect(exchangeFolder('SentItems')).toEqual({ wellKnownName: 'sentitems' });
    expect(exchangeFolder('Projects/2026')).toEqual({ displayName: 'Projects/2026' });
    expect(mailboxSettingsProblem('exchange_online', { folders: ['INBOX', 'sentitems', 'Projects'] })).toBeNull();
  });

  it('refuses a folder named twice, in another case or by its well-known name', () => {
    expect(mailboxSettingsProblem('exchange_online', { folders: ['INBOX', 'inbox'] })).toBe(
      'folders names one Exchange folder twice ("INBOX" and "inbox"): name each folder once',
    );
    expect(mailboxSettingsProblem('exchange_online', { folders: ['Projects', 'projects'] })).toMatch(/twice \("Projects" and "projects"\)/);
  });

  it('does not delete after processing', () => {
    expect(mailboxSettingsProblem('exchange_online', { deleteAfterProcessing: true })).toBe(
      "Deleting mail after processing is available for POP3 profiles only (this mailbox's profile is exchange_online): leave deleteAfterProcessing off",
    );
  });

  it('takes no password or login name; graphUser is for exchange_online only; IMAP and POP3 mailboxes are created with a password', () => {
    expect(mailboxCredentialProblem('exchange_online', {}, true)).toBeNull();
    expect(mailboxCredentialProblem('exchange_online', { graphUser: '5f0c7d1e-0000-4000-8000-000000000001' }, true)).toBeNull();
    expect(mailboxCredentialProblem('exchange_online', { password: 'x' }, true)).toMatch(/^A mailbox on an exchange_online profile has no password of its own: .*leave password out/);
    expect(mailboxCredentialProblem('exchange_online', { password: 'x' }, false)).toMatch(/no password of its own/);
    expect(mailboxCredentialProblem('exchange_online', { username: 'u' }, true)).toMatch(/has no login name: leave username out/);
    expect(mailboxCredentialProblem('imap', { password: 'x', graphUser: 'someone' }, true)).toBe(
      "graphUser is for mailboxes on exchange_online profiles (this mailbox's profile is imap): leave it out",
    );
    expect(mailboxCredentialProblem('pop3', {}, true)).toBe('A mailbox on a profile of server type pop3 logs in to its server with its own password: give password');
    expect(mailboxCredentialProblem('imap', {}, false)).toBeNull();
  });
});

describe('settleHostUrl', () => {
  it('takes an https host, normalised as the Graph client and MSAL want it', () => {
    expect(settleHostUrl('graphBaseUrl', 'https://graph.microsoft.us')).toEqual({ ok: true, url: 'https://graph.microsoft.us/' });
    expect(settleHostUrl('graphBaseUrl', 'https://127.0.0.1:8443/')).toEqual({ ok: true, url: 'https://127.0.0.1:8443/' });
    expect(settleHostUrl('authorityHost', 'https://login.chinacloudapi.cn/')).toEqual({ ok: true, url: 'https://login.chinacloudapi.cn' });
  });

  it('refuses anything else, naming the field', () => {
    expect(settleHostUrl('graphBaseUrl', 'http://graph.microsoft.com/')).toEqual({
      ok: false,
      problem: 'graphBaseUrl must be an https URL such as https://graph.microsoft.us/, not http: Microsoft Graph and Entra ID are reached over HTTPS only',
    });
    expect(settleHostUrl('authorityHost', 'login.microsoftonline.com')).toEqual({
      ok: false,
      problem: 'authorityHost must be an https URL such as https://login.microsoftonline.us; "login.microsoftonline.com" is not a URL',
    });
    expect(settleHostUrl('graphBaseUrl', 'https://graph.microsoft.com/v1.0')).toMatchObject({ ok: false, problem: expect.stringMatching(/^graphBaseUrl names a host only/) });
    expect(settleHostUrl('authorityHost', 'https://login.microsoftonline.com/contoso.onmicrosoft.com')).toMatchObject({ ok: false, problem: expect.stringMatching(/^authorityHost names a host only/) });
  });
});

describe('graphSettingsProblem', () => {
  const app = { serverType: 'exchange_online', tenantId: 'contoso.onmicrosoft.com', clientId: '11111111-2222-4333-8444-555555555555' } as const;
  const stored: GraphProfileSettings = { ...app, credentialKind: 'secret', graphBaseUrl: 'https://graph.microsoft.com/', authorityHost: 'https://login.microsoftonline.com' };

  it('takes a tenant, a client and one credential', () => {
    expect(graphSettingsProblem(null, { ...app, clientSecret: 's' })).toBeNull();
    expect(graphSettingsProblem(null, { ...app, certificatePem: 'c', privateKeyPem: 'k' })).toBeNull();
    expect(graphSettingsProblem(null, { ...app, clientSecret: 's', graphBaseUrl: 'https://graph.microsoft.us', authorityHost: 'https://login.microsoftonline.us' })).toBeNull();
  });

  it('names what is missing', () => {
    expect(graphSettingsProblem(null, { serverType: 'exchange_online', clientId: 'c', clientSecret: 's' })).toMatch(/^An exchange_online profile needs the id of its Microsoft Entra tenant \(tenantId\)/);
    expect(graphSettingsProblem(null, { serverType: 'exchange_online', tenantId: 't', clientSecret: 's' })).toMatch(/needs the application \(client\) id .*\(clientId\)$/);
    expect(graphSettingsProblem(null, app)).toBe("An exchange_online profile needs its app's credential: clientSecret, or certificatePem with privateKeyPem");
    expect(graphSettingsProblem(null, { ...app, certificatePem: 'c' })).toMatch(/give certificatePem and privateKeyPem together \(privateKeyPem is missing\)$/);
  });

  it('refuses two credentials, a multi-tenant alias and a non-https host', () => {
    expect(graphSettingsProblem(null, { ...app, clientSecret: 's', certificatePem: 'c', privateKeyPem: 'k' })).toBe(
      'Give clientSecret, or certificatePem with privateKeyPem, not both: the app proves who it is with one credential',
    );
    expect(graphSettingsProblem(null, { ...app, tenantId: 'common', clientSecret: 's' })).toMatch(/^tenantId must name one tenant/);
    expect(graphSettingsProblem(null, { ...app, clientSecret: 's', authorityHost: 'http://login.microsoftonline.com' })).toMatch(/^authorityHost must be an https URL/);
  });

  it('changes a stored profile without repeating its credential, and replaces the credential when one is given', () => {
    expect(graphSettingsProblem(stored, { tenantId: 'fabrikam.onmicrosoft.com' })).toBeNull();
    expect(graphSettingsProblem(stored, { certificatePem: 'c', privateKeyPem: 'k' })).toBeNull();
    expect(graphSettingsProblem(stored, { graphBaseUrl: 'ftp://graph' })).toMatch(/^graphBaseUrl must be an https URL/);
    // A stored row without its app settings (an older version) can still change other things.
    const incomplete: GraphProfileSettings = { ...stored, tenantId: null, credentialKind: null };
    expect(graphSettingsProblem(incomplete, {})).toBeNull();
    expect(graphSettingsProblem(incomplete, { clientSecret: 's' })).toMatch(/needs the id of its Microsoft Entra tenant/);
  });

  it('asks a profile becoming exchange_online for everything, and keeps Graph settings off other profiles', () => {
    const imap: GraphProfileSettings = { serverType: 'imap', tenantId: null, clientId: null, credentialKind: null, graphBaseUrl: null, authorityHost: null };
    expect(graphSettingsProblem(imap, { serverType: 'exchange_online', tenantId: 't', clientId: 'c' })).toMatch(/needs its app's credential/);
    expect(graphSettingsProblem(imap, { tenantId: 't' })).toBe('tenantId is a setting of exchange_online profiles (this profile is imap): leave it out');
    expect(graphSettingsProblem(null, { serverType: 'pop3', clientSecret: 's' })).toBe('clientSecret is a setting of exchange_online profiles (this profile is pop3): leave it out');
    expect(graphSettingsProblem(stored, { serverType: 'imap' })).toBeNull();
  });
});
