import { classifyMailError, isUnreachableError } from '../../src/policy/errorClassification';

const err = (message: string, fields: Record<string, unknown> = {}) => Object.assign(new Error(message), fields);

describe('classifyMailError', () => {
  it.each([
    ['IMAP authentication failure', err('Command failed', { authenticationFailed: true, responseText: 'Authentication failed.' })],
    ['AUTHENTICATIONFAILED response code', err('Command failed', { serverResponseCode: 'AUTHENTICATIONFAILED' })],
    ['TLS failure flagged by imapflow', err('TLS failed', { tlsFailed: true })],
    ['self-signed certificate', err('self signed certificate', { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })],
    ['wrong TLS version (plain server on a TLS port)', err('wrong version number', { code: 'ERR_SSL_WRONG_VERSION_NUMBER' })],
    ['missing folder', err('Command failed', { mailboxMissing: true, path: 'Archive' })],
    ['NONEXISTENT response code', err('Command failed', { serverResponseCode: 'NONEXISTENT' })],
    ['Graph 401', err('Unauthorized', { statusCode: 401 })],
    ['Graph 403', err('Forbidden', { statusCode: 403 })],
    ['Graph 404 mailbox', err('Not found', { statusCode: 404 })],
    ['an error a source marked permanent', err('unsupported', { errorClass: 'permanent' })],
  ])('%s is permanent', (_name, e) => {
    expect(classifyMailError(e).errorClass).toBe('permanent');
  });

  it.each([
    ['connection refused', err('connect ECONNREFUSED', { code: 'ECONNREFUSED' })],
    ['connection reset', err('read ECONNRESET', { code: 'ECONNRESET' })],
    ['socket time-out', err('timed out', { code: 'ETIMEOUT' })],
    ['connect time-out', err('timed out', { code: 'CONNECT_TIMEOUT' })],
    ['greeting time-out', err('timed out', { code: 'GREETING_TIMEOUT' })],
    ['connection closed', err('closed', { code: 'NoConnection' })],
    ['DNS failure', err('getaddrinfo', { code: 'EAI_AGAIN' })],
    ['server busy', err('Command failed', { serverResponseCode: 'UNAVAILABLE' })],
    ['Graph 503', err('Service Unavailable', { statusCode: 503 })],
    ['an unknown error', new Error('something odd')],
    ['a thrown string', 'boom'],
  ])('%s is transient', (_name, e) => {
    expect(classifyMailError(e).errorClass).toBe('transient');
  });

  it('reads throttling and the wait the server asked for', () => {
    expect(classifyMailError(err('throttled', { code: 'ETHROTTLE', throttleReset: 5000 }))).toMatchObject({
      errorClass: 'transient',
      throttled: true,
      retryAfterMs: 5000,
    });
    expect(classifyMailError(err('Too Many Requests', { statusCode: 429, retryAfterMs: 30_000 }))).toMatchObject({
      errorClass: 'transient',
      throttled: true,
      retryAfterMs: 30_000,
    });
  });

  it('names the server and says what a network code means', () => {
    const endpoint = { host: 'imap.example.test', port: 993 };
    expect(classifyMailError(err('getaddrinfo ENOTFOUND imap.example.test', { code: 'ENOTFOUND' }), endpoint).message).toBe(
      'Could not reach the mail server imap.example.test:993 (ENOTFOUND: the host name does not resolve)',
    );
    expect(classifyMailError(err('connect ECONNREFUSED', { code: 'ECONNREFUSED' }), endpoint).message).toBe(
      'Could not reach the mail server imap.example.test:993 (ECONNREFUSED: nothing accepts connections on that port)',
    );
    expect(classifyMailError(err('wrong version number', { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }), endpoint).message).toBe(
      "TLS connection to the mail server imap.example.test:993 failed (ERR_SSL_WRONG_VERSION_NUMBER): check the profile's security setting and the server certificate",
    );
    // Without the endpoint (a caller that does not know it), the reason still reads.
    expect(classifyMailError(err('timed out', { code: 'GREETING_TIMEOUT' })).message).toBe(
      'Could not reach the mail server (GREETING_TIMEOUT: the server did not greet within the time-out)',
    );
  });

  it('gives an administrator a readable reason that quotes the server', () => {
    const c = classifyMailError(err('Command failed', { authenticationFailed: true, responseText: 'Authentication failed.' }));
    expect(c.message).toBe('Authentication failed: the mail server rejected the user name or password (server said: Authentication failed.)');
    expect(classifyMailError(err('x', { mailboxMissing: true, path: 'Archive' })).message).toMatch(/Folder "Archive" does not exist/);
  });
});

describe('isUnreachableError', () => {
  it('tells a server that cannot be reached from a mailbox that fails', () => {
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'CONNECT_TIMEOUT', 'GREETING_TIMEOUT']) {
      expect(isUnreachableError(err('x', { code }))).toBe(true);
    }
    expect(isUnreachableError(err('x', { authenticationFailed: true }))).toBe(false);
    expect(isUnreachableError(err('x', { serverResponseCode: 'UNAVAILABLE' }))).toBe(false);
    expect(isUnreachableError(err('x', { code: 'ETHROTTLE' }))).toBe(false);
    expect(isUnreachableError('a string')).toBe(false);
  });
});
