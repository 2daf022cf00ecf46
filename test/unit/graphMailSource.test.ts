import type { Message } from '@microsoft/microsoft-graph-types';
import { GraphMailSource, wellKnownFolder } from '../../src/mail/graph/graphMailSource';
import { GraphRequestError, type GraphRequest, type GraphSession } from '../../src/mail/graph/graphSession';
import type { IncomingBatch, PullOptions } from '../../src/mail/mailSource';
import { classifyGraphFailure } from '../../src/policy/graphErrors';

const USER = '/users/alice%40example.test';

function message(id: string, overrides: Partial<Message> = {}): Message {
  return {
    id,
    subject: `Subject ${id}`,
    from: { emailAddress: { address: 'carol@customer.test' } },
    toRecipients: [{ emailAddress: { address: 'alice@example.test' } }],
    body: { contentType: 'text', content: `Body ${id}` },
    receivedDateTime: '2026-11-30T10:00:00Z',
    sentDateTime: '2026-11-30T09:59:00Z',
    internetMessageId: `<${id}@customer.test>`,
    internetMessageHeaders: [],
    hasAttachments: false,
    ...overrides,
  };
}

const gone = () => new GraphRequestError(classifyGraphFailure({ statusCode: 410, code: 'SyncStateNotFound' }), 410, 'SyncStateNotFound');

/** A session answering each URL from a script (a function of how often it was asked), recording every request. */
function scriptedSession(answers: Record<string, (n: number) => unknown>) {
  const requests: GraphRequest[] = [];
  const asked = new Map<string, number>();
  const session = {
    userPath: USER,
    checkToken: async () => undefined,
    async request<T>(req: GraphRequest): Promise<T> {
      requests.push(req);
      const n = (asked.get(req.url) ?? 0) + 1;
      asked.set(req.url, n);
      const answer = answers[req.url];
      if (!answer) throw new Error(`Unexpected request ${req.url}`);
      const value = answer(n);
      if (value instanceof Error) throw value;
      return value as T;
    },
  };
  return { session: session as unknown as GraphSession, requests };
}

const options: PullOptions = {
  batchSize: 50,
  batchMaxBytes: 16 * 1024 * 1024,
  processEmailFrom: null,
  maxMessageBytes: 1000,
  seen: { lookup: async () => ({ seen: new Set(), stored: new Set(), unlisted: 0 }) },
};

async function pullAll(source: GraphMailSource, folder: string, cursor: IncomingBatch['cursor'] | null, opts = options): Promise<IncomingBatch[]> {
  const out: IncomingBatch[] = [];
  for await (const batch of source.pull(folder, cursor, opts)) out.push(batch);
  return out;
}

const first = (folder: string) => expect.stringMatching(new RegExp(`^${USER}/mailFolders/${folder}/messages/delta\\?\\$select=subject,`));
const ids = (batch: IncomingBatch) => batch.items.map((i) => i.remoteId);

describe('wellKnownFolder', () => {
  it('maps the names mailboxes use to Graph well-known folders, and leaves the user\'s own folders to their display names', () => {
    expect(wellKnownFolder('INBOX')).toBe('inbox');
    expect(wellKnownFolder('Sent Items')).toBe('sentitems');
    expect(wellKnownFolder('Sent')).toBe('sentitems');
    expect(wellKnownFolder('Trash')).toBe('deleteditems');
    expect(wellKnownFolder('Junk Email')).toBe('junkemail');
    expect(wellKnownFolder('archive')).toBe('archive');
    expect(wellKnownFolder('Projects/Acme')).toBeNull();
  });
});

describe('GraphMailSource', () => {
  it('turns each delta page into a batch: the next link as cursor until the delta link, items listed twice taken once, removals passed on', async () => {
    const initial = `${USER}/mailFolders/inbox/messages/delta?$select=subject,from,sender,toRecipients,ccRecipients,bccRecipients,replyTo,body,receivedDateTime,sentDateTime,internetMessageId,internetMessageHeaders,conversationId,hasAttachments,parentFolderId`;
    const { session, requests } = scriptedSession({
      [initial]: () => ({ value: [message('a'), message('b'), { ...message('a'), subject: 'Subject a, later' }], '@odata.nextLink': 'https://graph.test/v1.0/next-1' }),
      'https://graph.test/v1.0/next-1': () => ({ value: [], '@odata.nextLink': 'https://graph.test/v1.0/next-2' }),
      'https://graph.test/v1.0/next-2': () => ({ value: [message('c'), { id: 'b', '@removed': { reason: 'deleted' } }], '@odata.deltaLink': 'https://graph.test/v1.0/delta-1' }),
    });
    const batches = await pullAll(new GraphMailSource(session), 'INBOX', null);
    expect(batches.map((b) => b.cursor)).toEqual([
      { nextLink: 'https://graph.test/v1.0/next-1', deltaLink: null },
      { nextLink: 'https://graph.test/v1.0/next-2', deltaLink: null },
      { nextLink: null, deltaLink: 'https://graph.test/v1.0/delta-1' },
    ]);
    // In the order of their last listing.
    expect(batches.map(ids)).toEqual([['b', 'a'], [], ['c']]);
    const a = batches[0].items[1];
    expect(a.kind === 'email' && a.message.subject).toBe('Subject a, later');
    expect(batches.map((b) => b.removed)).toEqual([[], [], ['b']]);
    expect(batches.map((b) => b.reset)).toEqual([false, false, false]);
    expect(batches.map((b) => b.remaining)).toEqual([1, 1, 0]);
    // Only the end of a round is a place to stop: a next link serves once, and the next page is read ahead.
    expect(batches.map((b) => b.resumableHere)).toEqual([false, false, true]);
    // Immutable ids and the page size on every request.
    expect(requests.every((r) => r.prefer?.includes('IdType="ImmutableId"') && r.prefer.includes('odata.maxpagesize=50'))).toBe(true);
  });

  it('restarts the folder from nothing, marked as a reset, when Graph forgets the round in the middle of paging', async () => {
    const { session, requests } = scriptedSession({
      'https://graph.test/v1.0/delta-1': () => ({ value: [message('d')], '@odata.nextLink': 'https://graph.test/v1.0/next-9' }),
      'https://graph.test/v1.0/next-9': () => gone(),
    });
    const answers = session as unknown as { request: (r: GraphRequest) => Promise<unknown> };
    const scripted = answers.request.bind(session);
    answers.request = async (req: GraphRequest) =>
      req.url.includes('/mailFolders/inbox/messages/delta?') ? { value: [message('d'), message('e')], '@odata.deltaLink': 'https://graph.test/v1.0/delta-2' } : scripted(req);
    const batches = await pullAll(new GraphMailSource(session), 'INBOX', { nextLink: null, deltaLink: 'https://graph.test/v1.0/delta-1' });
    expect(batches.map(ids)).toEqual([['d'], ['d', 'e']]);
    expect(batches.map((b) => b.reset)).toEqual([false, true]);
    expect(batches[1].cursor).toEqual({ nextLink: null, deltaLink: 'https://graph.test/v1.0/delta-2' });
    expect(requests.map((r) => r.url)).toEqual(['https://graph.test/v1.0/delta-1', 'https://graph.test/v1.0/next-9']);
  });

  it('resumes a round at its stored next link', async () => {
    const { session } = scriptedSession({
      'https://graph.test/v1.0/next-5': () => ({ value: [message('f')], '@odata.deltaLink': 'https://graph.test/v1.0/delta-5' }),
    });
    const batches = await pullAll(new GraphMailSource(session), 'INBOX', { nextLink: 'https://graph.test/v1.0/next-5', deltaLink: null });
    expect(batches.map(ids)).toEqual([['f']]);
  });

  it('reads a message listed with only what changed in full, fetches attachments within the size limit, and refuses a message over it', async () => {
    const pdf = Buffer.from('%PDF small').toString('base64');
    const { session } = scriptedSession({
      'https://graph.test/v1.0/delta-7': () => ({
        value: [
          { id: 'g', isRead: true } as Message,
          message('h', { hasAttachments: true }),
          message('i', { hasAttachments: true }),
        ],
        '@odata.deltaLink': 'https://graph.test/v1.0/delta-8',
      }),
      [`${USER}/messages/g?$select=subject,from,sender,toRecipients,ccRecipients,bccRecipients,replyTo,body,receivedDateTime,sentDateTime,internetMessageId,internetMessageHeaders,conversationId,hasAttachments,parentFolderId`]: () => message('g'),
      [`${USER}/messages/h/attachments?$select=id,size`]: () => ({ value: [{ id: 'x', size: 10 }] }),
      [`${USER}/messages/h/attachments`]: () => ({ value: [{ '@odata.type': '#microsoft.graph.fileAttachment', name: 'a.pdf', contentType: 'application/pdf', size: 10, isInline: false, contentBytes: pdf }] }),
      [`${USER}/messages/i/attachments?$select=id,size`]: () => ({ value: [{ id: 'y', size: 5000 }] }),
    });
    const [batch] = await pullAll(new GraphMailSource(session), 'INBOX', { nextLink: null, deltaLink: 'https://graph.test/v1.0/delta-7' });
    expect(batch.items.map((i) => [i.remoteId, i.kind])).toEqual([
      ['g', 'email'],
      ['h', 'email'],
      ['i', 'error'],
    ]);
    const [g, h, i] = batch.items;
    expect(g.kind === 'email' && g.message.subject).toBe('Subject g');
    expect(h.kind === 'email' && h.message.attachments.map((x) => x.filename)).toEqual(['a.pdf']);
    expect(i.kind === 'error' && i.message).toMatch(/over the profile's limit of 1000 bytes/);
  });

  it('passes over messages older than the "process email from" date, counting them', async () => {
    const { session } = scriptedSession({
      'https://graph.test/v1.0/delta-3': () => ({
        value: [message('old', { receivedDateTime: '2026-01-01T00:00:00Z' }), message('new', { receivedDateTime: '2026-11-30T00:00:00Z' })],
        '@odata.deltaLink': 'https://graph.test/v1.0/delta-4',
      }),
    });
    const [batch] = await pullAll(new GraphMailSource(session), 'INBOX', { nextLink: null, deltaLink: 'https://graph.test/v1.0/delta-3' }, {
      ...options,
      processEmailFrom: new Date('2026-06-01T00:00:00Z'),
    });
    expect(ids(batch)).toEqual(['new']);
    expect(batch.skipped).toBe(1);
  });

  it('finds a folder of the user\'s own by its display-name path', async () => {
    const { session, requests } = scriptedSession({
      [`${USER}/mailFolders?$select=id,displayName&$top=100`]: () => ({ value: [{ id: 'P1', displayName: 'Projects' }] }),
      [`${USER}/mailFolders/P1/childFolders?$select=id,displayName&$top=100`]: () => ({ value: [{ id: 'A1', displayName: 'Acme' }] }),
    });
    const answers = session as unknown as { request: (r: GraphRequest) => Promise<unknown> };
    const scripted = answers.request.bind(session);
    answers.request = async (req: GraphRequest) =>
      req.url.startsWith(`${USER}/mailFolders/A1/messages/delta?`) ? { value: [], '@odata.deltaLink': 'https://graph.test/v1.0/d' } : scripted(req);
    const batches = await pullAll(new GraphMailSource(session), 'Projects/acme', null);
    expect(batches).toHaveLength(1);
    expect(requests.map((r) => r.url)).toHaveLength(2);
    await expect(pullAll(new GraphMailSource(session), 'Nowhere', null)).rejects.toThrow(/Folder "Nowhere" does not exist/);
  });
});

test.each([['INBOX', 'inbox']])('the first request of %s names the well-known folder', async (folder, wellKnown) => {
  const { session, requests } = scriptedSession({});
  const answers = session as unknown as { request: (r: GraphRequest) => Promise<unknown> };
  answers.request = async (req: GraphRequest) => {
    requests.push(req);
    return { value: [], '@odata.deltaLink': 'https://graph.test/v1.0/d' };
  };
  await pullAll(new GraphMailSource(session), folder, null);
  expect(requests[0].url).toEqual(first(wellKnown));
});
