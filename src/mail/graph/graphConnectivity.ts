import type { ConnectivityResults } from '../../store/syncStore';
import type { DirectionCheck, DirectionResult } from '../connectivity';
import { GraphRequestError, GraphSession } from './graphSession';
import type { GraphEndpoint } from './graphEndpoint';

const now = () => new Date().toISOString();

function refused(err: unknown, what: string): DirectionCheck & { errorClass: DirectionResult['errorClass'] } {
  const e = err instanceof GraphRequestError ? err : null;
  return { name: what, status: 'failure', message: `${what}: ${e?.message ?? (err as Error).message}`, errorClass: e?.errorClass ?? 'transient' };
}

async function check(name: string, run: () => Promise<unknown>, passed: string) {
  try {
    await run();
    return { name, status: 'success' as const, message: `${name}: ${passed}`, errorClass: undefined };
  } catch (err) {
    return refused(err, name);
  }
}

/** One direction's result from its checks: it passes when all pass, and a permanent failure among them makes it permanent. */
function direction(checks: Awaited<ReturnType<typeof check>>[]): DirectionResult {
  const failed = checks.filter((c) => c.status === 'failure');
  return {
    status: failed.length === 0 ? 'success' : 'failure',
    message: checks.map((c) => c.message).join('; '),
    testedAt: now(),
    ...(failed.length > 0 ? { errorClass: failed.some((c) => c.errorClass === 'permanent') ? 'permanent' : 'transient' } : {}),
    checks: checks.map(({ name, status, message }) => ({ name, status, message })),
  };
}

/**
 * Test & Enable for an Exchange Online mailbox: a token first (without one nothing else can
 * pass, and each direction says so), then incoming (the Inbox's delta answers), outgoing (a
 * draft can be created and deleted: nothing is sent), and appointments, contacts and tasks,
 * each checked and reported on its own.
 */
export async function testGraphDirections(endpoint: GraphEndpoint): Promise<ConnectivityResults> {
  const session = new GraphSession(endpoint);
  const token = await check('Token', () => session.checkToken(), 'Entra ID issued an app-only token');
  if (token.status === 'failure') {
    const failed = direction([token]);
    return { incoming: failed, outgoing: failed, items: failed };
  }
  const mailbox = session.userPath;
  const incoming = await check(
    'Inbox',
    () => session.request({ method: 'GET', url: `${mailbox}/mailFolders/inbox/messages/delta?$select=id`, prefer: ['odata.maxpagesize=1', 'IdType="ImmutableId"'] }),
    'its delta query answers',
  );
  const outgoing = await check(
    'Drafts',
    async () => {
      const draft = await session.request<{ id: string }>({
        method: 'POST',
        url: `${mailbox}/messages`,
        body: { subject: 'CRM sync connectivity test (deleted at once)', body: { contentType: 'text', content: '' } },
        // A repeat after a lost answer could leave a second test draft behind.
        repeatable: false,
      });
      await session.request({ method: 'DELETE', url: `${mailbox}/messages/${encodeURIComponent(draft.id)}` });
    },
    'a draft was created and deleted',
  );
  const items = [
    await check('Contacts', () => session.request({ method: 'GET', url: `${mailbox}/contacts?$top=1&$select=id` }), 'reachable'),
    await check('Calendar', () => session.request({ method: 'GET', url: `${mailbox}/events?$top=1&$select=id` }), 'reachable'),
    await check('To Do', () => session.request({ method: 'GET', url: `${mailbox}/todo/lists?$top=1` }), 'reachable'),
  ];
  return { incoming: direction([token, incoming]), outgoing: direction([token, outgoing]), items: direction([token, ...items]) };
}
