import { canSyncIncoming, defaultPort, mailboxSettingsProblem, settleEndpoints, type EndpointSettings } from '../../src/policy/serverProfiles';

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
  it('syncs imap and pop3 in this version', () => {
    expect(canSyncIncoming('imap')).toBe(true);
    expect(canSyncIncoming('pop3')).toBe(true);
    expect(canSyncIncoming('exchange_online')).toBe(false);
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
    const settled = settleEndpoints(null, { serverType: 'exchange_online', incomingHost: 'h' });
    expect(settled).toEqual({ ok: false, problem: expect.stringContaining('exchange_online servers is not available in this version (supported server types: imap, pop3)') });
    expect(settleEndpoints(stored, { serverType: 'exchange_online' })).toMatchObject({ ok: false });
  });

  it('lets a profile an older version stored with such a type be renamed or moved to a supported one', () => {
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
