import { classifyGraphFailure, decideGraphRetry, DEFAULT_GRAPH_RETRY } from '../../src/policy/graphErrors';

describe('classifyGraphFailure', () => {
  it.each([
    ['a wrong client secret', { fromTokenEndpoint: true, statusCode: 401, code: 'invalid_client', aadstsCodes: [7000215] }, 'AADSTS7000215'],
    ['an expired client secret', { fromTokenEndpoint: true, statusCode: 401, code: 'invalid_client', aadstsCodes: [7000222] }, 'AADSTS7000222'],
    ['an unknown tenant', { fromTokenEndpoint: true, statusCode: 400, code: 'invalid_request', aadstsCodes: [90002] }, 'AADSTS90002'],
    ['an unknown app', { fromTokenEndpoint: true, statusCode: 400, code: 'unauthorized_client', aadstsCodes: [700016] }, 'AADSTS700016'],
    ['a missing permission', { statusCode: 403, code: 'ErrorAccessDenied', message: 'Access is denied.' }, 'Mail.ReadWrite'],
    ['a missing Contacts permission', { statusCode: 403, code: 'ErrorAccessDenied', path: '/users/u/contactFolders/f/contacts/delta' }, 'grant Contacts.ReadWrite'],
    ['a missing Calendars permission', { statusCode: 403, code: 'ErrorAccessDenied', path: '/users/u/calendarView/delta?startDateTime=x' }, 'grant Calendars.ReadWrite'],
    ['a missing To Do permission', { statusCode: 403, code: 'ErrorAccessDenied', path: '/users/u/todo/lists' }, 'grant Tasks.ReadWrite.All'],
    ['a refusal of another code', { statusCode: 403, code: 'Authorization_RequestDenied', path: '/users/u/events/e' }, 'grant Calendars.ReadWrite'],
    ['an unknown user', { statusCode: 404, code: 'ErrorInvalidUser' }, 'does not exist in the tenant'],
    ['a user without an Exchange licence', { statusCode: 404, code: 'MailboxNotEnabledForRESTAPI' }, 'no Exchange Online mailbox'],
    ['any other 403', { statusCode: 403, code: 'SomethingNew' }, 'HTTP 403'],
  ])('%s is permanent and names it', (_name, facts, words) => {
    const failure = classifyGraphFailure(facts);
    expect(failure.errorClass).toBe('permanent');
    expect(failure.message).toContain(words);
  });

  it.each([
    ['a 429 with Retry-After', { statusCode: 429, code: 'ApplicationThrottled', retryAfterSeconds: 2.128 }, 2128],
    ['a throttled code without the status', { statusCode: 400, code: 'activityLimitReached' }, undefined],
  ])('%s is throttling, with the wait asked', (_name, facts, retryAfterMs) => {
    expect(classifyGraphFailure(facts)).toMatchObject({ errorClass: 'transient', throttled: true, retryAfterMs });
  });

  it.each([
    ['410 Gone', { statusCode: 410, code: 'SyncStateNotFound' }],
    ['the documented camel-case code', { statusCode: 400, code: 'syncStateNotFound' }],
    ['resyncRequired', { statusCode: 400, code: 'resyncRequired' }],
  ])('%s means the delta token is lost', (_name, facts) => {
    expect(classifyGraphFailure(facts)).toMatchObject({ errorClass: 'transient', syncStateLost: true });
  });

  it.each([
    ['503', { statusCode: 503, retryAfterSeconds: 5 }],
    ['504', { statusCode: 504 }],
    ['no answer at all', { statusCode: -1, networkCode: 'ECONNREFUSED' }],
    ['the token endpoint unreachable', { fromTokenEndpoint: true, statusCode: -1 }],
    ['a token endpoint 500', { fromTokenEndpoint: true, statusCode: 500, code: 'server_error' }],
  ])('%s is transient', (_name, facts) => {
    expect(classifyGraphFailure(facts)).toMatchObject({ errorClass: 'transient', throttled: false, syncStateLost: false });
  });
});

describe('decideGraphRetry', () => {
  const throttled = (seconds: number) => classifyGraphFailure({ statusCode: 429, retryAfterSeconds: seconds });

  it('waits out a short Retry-After inside the activity', () => {
    expect(decideGraphRetry(throttled(3), 1, true, DEFAULT_GRAPH_RETRY)).toEqual({ retry: true, waitMs: 3000 });
  });

  it('hands a long Retry-After back to the workflow timer', () => {
    expect(decideGraphRetry(throttled(120), 1, true, DEFAULT_GRAPH_RETRY)).toEqual({ retry: false });
  });

  it('never repeats a request that may have taken effect (sending mail)', () => {
    expect(decideGraphRetry(classifyGraphFailure({ statusCode: 503 }), 1, false, DEFAULT_GRAPH_RETRY)).toEqual({ retry: false });
    expect(decideGraphRetry(throttled(1), 1, false, DEFAULT_GRAPH_RETRY)).toEqual({ retry: false });
  });

  it('backs off without Retry-After, then gives up after the last attempt', () => {
    const unavailable = classifyGraphFailure({ statusCode: 504 });
    expect(decideGraphRetry(unavailable, 1, true, DEFAULT_GRAPH_RETRY)).toEqual({ retry: true, waitMs: 500 });
    expect(decideGraphRetry(unavailable, 3, true, DEFAULT_GRAPH_RETRY)).toEqual({ retry: true, waitMs: 2000 });
    expect(decideGraphRetry(unavailable, DEFAULT_GRAPH_RETRY.maxAttempts, true, DEFAULT_GRAPH_RETRY)).toEqual({ retry: false });
  });

  it('leaves an answer a repeat would not change (404, 400, 412) to the caller, at once', () => {
    for (const [statusCode, code] of [[404, 'ErrorItemNotFound'], [400, 'ErrorInvalidRequest'], [412, 'ErrorIrresolvableConflict']] as const) {
      expect(decideGraphRetry({ ...classifyGraphFailure({ statusCode, code }), statusCode }, 1, true, DEFAULT_GRAPH_RETRY)).toEqual({ retry: false });
    }
    expect(decideGraphRetry({ ...classifyGraphFailure({ statusCode: 408 }), statusCode: 408 }, 1, true, DEFAULT_GRAPH_RETRY)).toEqual({ retry: true, waitMs: 500 });
  });

  it('never retries a permanent failure or a lost delta token', () => {
    expect(decideGraphRetry(classifyGraphFailure({ statusCode: 403, code: 'ErrorAccessDenied' }), 1, true, DEFAULT_GRAPH_RETRY)).toEqual({ retry: false });
    expect(decideGraphRetry(classifyGraphFailure({ statusCode: 410 }), 1, true, DEFAULT_GRAPH_RETRY)).toEqual({ retry: false });
  });
});
