/**
 * HTTPS fake of Microsoft Graph (v1.0) and the Entra ID token endpoint, for tests and for people
 * (`npm run graph-fake`). Implementation: test/graphFake/; behaviour follows /work/shared/notes/graph.md.
 *
 * Contract
 * --------
 * startGraphFake(options?: { users?: FakeUserSpec[]; apps?: FakeAppSpec[]; port?: number; sentItemsDelayMs?: number;
 *                            tenantId?: string; limits?: { concurrency?: number; requestsPerTenMinutes?: number } }): Promise<GraphFake>
 *
 * GraphFake:
 *   graphBaseUrl   'https://localhost:PORT/' (Client.initWithMiddleware baseUrl); every link the fake emits is
 *                  'https://localhost:PORT/v1.0/...'. Use `customHosts: new Set(['localhost'])` (host without port).
 *   authorityHost  'https://localhost:PORT'; token URL `${authorityHost}/${tenantId}/oauth2/v2.0/token`;
 *                  msal-node: authority `${authorityHost}/${tenantId}`, knownAuthorities ['localhost:PORT'],
 *                  authorityMetadata JSON.stringify(graphFakeAuthorityMetadata(fake)) → no discovery call at all.
 *   tenantId, clientId, clientSecret   the default app, with all permissions (Mail.ReadWrite, Mail.Send,
 *                  Contacts.ReadWrite, Calendars.ReadWrite, Tasks.ReadWrite.All).
 *   certificate    { pem, privateKeyPem, thumbprintSha256 } registered on the default app (client assertion, PS256 or RS256).
 *   caFile         PEM of the CA that signed the server certificate. Jest's globalSetup puts it in NODE_EXTRA_CA_CERTS
 *                  before workers start (jest.config sets workerIdleMemoryLimit so even one test file runs in a worker);
 *                  processes spawned by tests inherit it. A person exports it once: certificates live in .data/graph-fake/.
 *   users          FakeUser[] { id (GUID), mail, displayName, userPrincipalName, hasMailbox }.
 *   addUser(spec) / addApp({ clientId?, clientSecret?, permissions?, certificatePems? })
 *   mailbox(idOrMail) → FakeMailbox: direct state access (no HTTP, no throttling, not logged): folders
 *                  (inbox, drafts, sentitems, deleteditems, junkemail, archive, outbox + custom by display name),
 *                  addFolder, addMessage(folder, Partial<Message>) → Message, addMessages(folder, n, i => Partial<Message>),
 *                  update(id, patch), move(id, folder), delete(id), list(folder), get(id); contacts, events, To Do
 *                  equivalents. Ids returned are immutable ids; both id forms are accepted everywhere.
 *   script         throttle({ fraction, retryAfterSeconds: [min, max], forMs, status?: 429|503, methods? }),
 *                  expireDeltaTokens({ midPaging?, withLocation?, code? }),
 *                  failNext({ count, status, code, path?: RegExp, methods?, retryAfterSeconds?: number|null, afterHandling? }),
 *                  slow(ms), duplicates(on), lifecycle(event), dropNotifications(on), reset().
 *   requestLog     RequestLogEntry[] { startedAt, endedAt, method, url, userId|null, status, appId,
 *                  concurrentForMailbox (in flight for that app+mailbox when it started, itself included), inBatch? };
 *                  token/openid/discovery requests are logged with userId null and appId null.
 *   maxConcurrentSeen(userId)  highest concurrentForMailbox for that user (rejected 5th requests included);
 *                  resetCounters() forgets it (and the 10-minute budgets).
 *   revokeTokens()  forget every issued access token (next Graph call: 401).
 *   close()
 *
 * Wire behaviour (graph.md §9): token endpoint (client_secret, Basic, client_assertion; expires_in 3599; opaque
 * tokens; errors as JSON with AADSTS codes: unknown tenant 400 AADSTS90002, unknown app 400 AADSTS700016,
 * wrong secret 401 invalid_client AADSTS7000215 (Entra answers invalid_client with 401), bad scope 400);
 * Graph errors `{error:{code,message,innerError:{date,'request-id','client-request-id'}}}` with Content-Type
 * application/json; 401 InvalidAuthenticationToken without a token it issued; 403 ErrorAccessDenied without the
 * permission; 404 ErrorInvalidUser (unknown user), 404 MailboxNotEnabledForRESTAPI (no Exchange licence);
 * per app+mailbox a 5th concurrent request → 429 ApplicationThrottled with Retry-After, and 10,000 requests per
 * 10 minutes; delta rounds (nextLink $skiptoken → deltaLink $deltatoken, Prefer odata.maxpagesize, $top, $select,
 * $expand, receivedDateTime filter, changeType, @removed for deleted/moved-out items, 410 SyncStateNotFound);
 * Prefer IdType="ImmutableId" (default ids change on move); @odata.etag W/"changeKey" and 412
 * ErrorIrresolvableConflict on a stale If-Match; drafts (201) → send (202) → Sent Items copy after
 * sentItemsDelayMs with a different id and the same internetMessageId; sendMail (202); internetMessageHeaders
 * only x- names (400 InvalidInternetMessageHeader); $batch (≤20, unique ids, dependsOn/424, any order, 4 at a time).
 *
 * Details worth knowing when writing the client:
 * - 202 answers (send, sendMail) have no body and no Content-Type: the Graph client then returns the empty body
 *   stream, not undefined; use `.responseType(ResponseType.RAW)` to see the status.
 * - A nextLink serves once (fetching an old page again: 410, as observed); deltaLinks can be reused. Throttled and
 *   scripted failures happen before the page is served, so retrying them is safe.
 * - Directory: unknown /users/{id} → 404 Request_ResourceNotFound; anything under it → 404 ErrorInvalidUser.
 *   /users endpoints need no permission in the fake (User.Read.All is not modelled).
 * - $select=internetMessageHeaders on sent/received messages gives Message-ID, Date, From, To, Subject… plus the
 *   headers stored on the item (In-Reply-To/References: seed them with mailbox().addMessage(…, {internetMessageHeaders})).
 * - Prefer: outlook.body-content-type="text" turns HTML bodies into text.
 * - Large attachments: createUploadSession → uploadUrl `https://localhost:PORT/api/v2.0/…?authtoken=…`, PUT ≤ 4 MB
 *   per request; request bodies over 4 MB get 413.
 * - Series (daily, weekly, absolute and relative monthly and yearly) expand into occurrences at the first start's
 *   wall-clock time in the range's recurrenceTimeZone (else the zone the start was written in; Windows names read
 *   as UTC), so daylight saving time moves none; calendarView/delta lists the master (when one of its instances is
 *   in the window) and the occurrences trimmed to id, type, seriesMasterId, start, end. Occurrences carry
 *   originalStart; a changed occurrence becomes an exception, a deleted one is cancelled, and either changes the
 *   master (new changeKey, listed by delta); re-expanding the master keeps exceptions and cancellations whose
 *   original start the pattern still has. GET /events/{id}/instances?startDateTime&endDateTime lists them.
 * - Event times written in an IANA zone are stored in UTC with the zone in originalStartTimeZone/originalEndTimeZone
 *   (Windows zone names are read as UTC). GET /calendar gives the primary calendar, GET /contactFolders/contacts
 *   the default contact folder.
 * - $expand=singleValueExtendedProperties($filter=id eq 'a' or id eq 'b') returns each of them.
 * - To Do tasks honour If-Match on PATCH (412 ErrorIrresolvableConflict), like Outlook items (not documented for To Do).
 * - Sending to an address of a fake user delivers to their Inbox; to a `*.invalid` domain produces an NDR in the sender's Inbox.
 * - `npm run graph-fake` adds /_fake/… (seed mail, scripts, log) for people; tests use the in-process API.
 */
import tls from 'node:tls';
import { startGraphFake as startServer, type GraphFake, type GraphFakeOptions } from '../graphFake/server';

export type { FakeMailbox, GraphFake, GraphFakeOptions, GraphFakeScript, FakeUser, FakeUserSpec, FakeAppSpec, RequestLogEntry } from '../graphFake/server';

/** The msal-node `authorityMetadata` that lets it skip every discovery call. */
export function graphFakeAuthorityMetadata(fake: Pick<GraphFake, 'authorityHost' | 'tenantId'>): Record<string, string> {
  const base = `${fake.authorityHost}/${fake.tenantId}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    issuer: `${base}/v2.0`,
    jwks_uri: `${base}/discovery/v2.0/keys`,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
  };
}

/** True when this process trusts the fake's certificate (NODE_EXTRA_CA_CERTS was set before it started). */
export function trustsGraphFake(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      resolve(socket.authorized);
      socket.end();
    });
    socket.on('error', () => resolve(false));
  });
}

/** Starts the fake and fails at once, saying what to do, when this process would not trust it. */
export async function startGraphFake(options: GraphFakeOptions = {}): Promise<GraphFake> {
  const fake = await startServer(options);
  if (!(await trustsGraphFake(fake.port))) {
    await fake.close();
    throw new Error(
      `This process does not trust the Graph fake's CA. Node reads NODE_EXTRA_CA_CERTS only at start: run with NODE_EXTRA_CA_CERTS=${fake.caFile} ` +
      '(jest: globalSetup sets it for workers; do not pass --runInBand).');
  }
  return fake;
}
