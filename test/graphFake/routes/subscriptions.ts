import { GraphFault, empty, faults, json, randomUUID } from '../http';
import { pathSegments, permissionSets, type FakeCore, type RouteContext } from '../core';
import type { ChangeType, Container, ItemKind } from '../state';

interface Subscription {
  id: string;
  resource: string;
  changeTypes: ChangeType[];
  notificationUrl: string;
  lifecycleNotificationUrl?: string;
  clientState?: string;
  expirationDateTime: string;
  applicationId: string;
  immutableIds: boolean;
  matches: (container: Container) => boolean;
  kind: ItemKind;
}

const maxMinutes: Partial<Record<ItemKind, number>> = { message: 10_080, event: 10_080, contact: 10_080, todoTask: 4_230 };

async function post(url: string, body: unknown, timeoutMs: number): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
}

/** Validation handshake: POST ?validationToken=… and expect the token back as text/plain within 10 s (graph.md §7.2). */
async function validate(url: string): Promise<boolean> {
  const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
  const target = new URL(url);
  target.searchParams.set('validationToken', token);
  try {
    const response = await fetch(target, { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: '', signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    return response.status === 200 && (response.headers.get('content-type') ?? '').startsWith('text/plain') && text === token;
  } catch {
    return false;
  }
}

export function registerSubscriptionRoutes(core: FakeCore) {
  const subscriptions = new Map<string, Subscription>();
  const queues = new Map<string, Array<Record<string, unknown>>>();
  const timers = new Set<NodeJS.Timeout>();
  let dropping = false;
  let stopped = false;

  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    timers.add(timer);
  };

  const deliver = async (url: string, batch: Array<Record<string, unknown>>, attempt: number): Promise<void> => {
    if (stopped) return;
    let ok = false;
    try {
      const response = await post(url, { value: batch }, 3_000);
      ok = response.status >= 200 && response.status < 300;
    } catch {
      ok = false;
    }
    // Graph retries for hours; the fake retries a few times with back-off.
    if (!ok && attempt < 5) later(1000 * 2 ** attempt, () => void deliver(url, batch, attempt + 1));
  };

  const enqueue = (url: string, notification: Record<string, unknown>) => {
    const queue = queues.get(url);
    if (queue) {
      queue.push(notification);
      return;
    }
    queues.set(url, [notification]);
    later(50, () => {
      const batch = queues.get(url) ?? [];
      queues.delete(url);
      void deliver(url, batch, 0);
    });
  };

  core.store.listeners.push((container, ids, change, kind) => {
    if (dropping || stopped) return;
    for (const subscription of subscriptions.values()) {
      if (subscription.kind !== kind || !subscription.changeTypes.includes(change) || !subscription.matches(container)) continue;
      if (Date.parse(subscription.expirationDateTime) < Date.now()) continue;
      const id = subscription.immutableIds ? ids.core : ids.restId;
      const typeName = kind.charAt(0).toUpperCase() + kind.slice(1);
      enqueue(subscription.notificationUrl, {
        id: randomUUID(),
        subscriptionId: subscription.id,
        subscriptionExpirationDateTime: subscription.expirationDateTime,
        changeType: change,
        resource: `Users/${container.mailbox.userId}/${typeName}s/${id}`,
        clientState: subscription.clientState ?? null,
        tenantId: core.tenantId,
        resourceData: { '@odata.type': `#Microsoft.Graph.${typeName}`, '@odata.id': `Users/${container.mailbox.userId}/${typeName}s/${id}`, id },
      });
    }
  });

  /** What a subscription resource path covers: `kind` and a test on containers. */
  const parseResource = (resource: string): { userId: string; kind: ItemKind; matches: (c: Container) => boolean } => {
    const segments = pathSegments(resource).map((s, i) => (i % 2 === 0 ? s.toLowerCase() : s));
    const user = segments[0] === 'users' ? core.findUser(segments[1] ?? '') : undefined;
    if (!user) throw faults.badRequest(`The resource '${resource}' is not supported by the Graph fake; use /users/{id}/... paths.`, 'InvalidRequest');
    const rest = segments.slice(2).join('/');
    const mailbox = core.mailboxOf(user);
    const own = (c: Container) => c.mailbox === mailbox;
    let m: RegExpExecArray | null;
    if (rest === 'messages') return { userId: user.id, kind: 'message', matches: own };
    if ((m = /^mailfolders\/([^/]+)\/messages$/.exec(rest))) {
      const key = m[1];
      return { userId: user.id, kind: 'message', matches: (c) => own(c) && (c.id === key || c.wellKnownName === key.toLowerCase()) };
    }
    if (rest === 'events') return { userId: user.id, kind: 'event', matches: own };
    if (rest === 'contacts') return { userId: user.id, kind: 'contact', matches: (c) => own(c) && c.wellKnownName === 'contacts' };
    if ((m = /^contactfolders\/([^/]+)\/contacts$/.exec(rest))) {
      const key = m[1];
      return { userId: user.id, kind: 'contact', matches: (c) => own(c) && c.id === key };
    }
    if ((m = /^todo\/lists\/([^/]+)\/tasks$/.exec(rest))) {
      const key = m[1];
      return { userId: user.id, kind: 'todoTask', matches: (c) => own(c) && c.id === key };
    }
    throw faults.badRequest(`The resource '${resource}' is not supported by the Graph fake.`, 'InvalidRequest');
  };

  const renderSubscription = (s: Subscription) => ({
    '@odata.context': `${core.origin}/v1.0/$metadata#subscriptions/$entity`,
    id: s.id, resource: s.resource, applicationId: s.applicationId, changeType: s.changeTypes.join(','), clientState: s.clientState ?? null,
    notificationUrl: s.notificationUrl, lifecycleNotificationUrl: s.lifecycleNotificationUrl ?? null, expirationDateTime: s.expirationDateTime,
    creatorId: s.applicationId, latestSupportedTlsVersion: 'v1_2', includeResourceData: false,
  });

  const checkExpiration = (kind: ItemKind, value: unknown): string => {
    const at = Date.parse(String(value));
    if (Number.isNaN(at)) throw faults.badRequest('expirationDateTime is required and must be an ISO 8601 date-time.', 'InvalidRequest');
    const max = maxMinutes[kind] ?? 4_230;
    if (at > Date.now() + max * 60_000) {
      throw faults.badRequest(`Subscription expiration can only be ${max} minutes in the future.`, 'InvalidRequest');
    }
    if (at < Date.now()) throw faults.badRequest('Subscription expiration must be in the future.', 'InvalidRequest');
    return new Date(at).toISOString().replace(/\.\d+Z$/, '.0000000Z');
  };

  const allowedUrl = (url: unknown): url is string => {
    if (typeof url !== 'string') return false;
    try {
      const parsed = new URL(url);
      // Graph requires https; the fake also lets local test receivers use plain http.
      return parsed.protocol === 'https:' || (parsed.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname));
    } catch {
      return false;
    }
  };

  const requireSubscription = (c: RouteContext) => {
    const subscription = subscriptions.get(c.params.id);
    if (!subscription || subscription.applicationId !== c.app.clientId) {
      throw new GraphFault(404, 'ResourceNotFound', `The object was not found.`);
    }
    return subscription;
  };

  core.route('POST', '/subscriptions', [], async (c) => {
    const body = (c.request.body ?? {}) as Record<string, unknown>;
    if (typeof body.resource !== 'string') throw faults.badRequest('resource is required.', 'InvalidRequest');
    const target = parseResource(body.resource);
    const read = { message: permissionSets.mailRead, event: permissionSets.calendarsRead, contact: permissionSets.contactsRead, todoTask: permissionSets.tasksRead }[
      target.kind as 'message'] ?? [];
    if (!read.some((p) => c.app.permissions.has(p))) throw faults.accessDenied();
    const changeTypes = String(body.changeType ?? '').split(',').map((s) => s.trim()).filter(Boolean) as ChangeType[];
    if (!changeTypes.length || changeTypes.some((t) => !['created', 'updated', 'deleted'].includes(t))) {
      throw faults.badRequest("changeType must be a comma-separated list of 'created', 'updated', 'deleted'.", 'InvalidRequest');
    }
    if (typeof body.clientState === 'string' && body.clientState.length > 128) throw faults.badRequest('clientState is longer than 128 characters.', 'InvalidRequest');
    if (!allowedUrl(body.notificationUrl)) throw faults.badRequest('The notificationUrl must be an https URL.', 'InvalidRequest');
    if (body.lifecycleNotificationUrl !== undefined && !allowedUrl(body.lifecycleNotificationUrl)) {
      throw faults.badRequest('The lifecycleNotificationUrl must be an https URL.', 'InvalidRequest');
    }
    const expirationDateTime = checkExpiration(target.kind, body.expirationDateTime);
    for (const url of [body.notificationUrl, body.lifecycleNotificationUrl]) {
      if (typeof url === 'string' && !(await validate(url))) {
        throw faults.badRequest('Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.', 'ValidationError');
      }
    }
    const subscription: Subscription = {
      id: randomUUID(), resource: body.resource, changeTypes, notificationUrl: body.notificationUrl,
      lifecycleNotificationUrl: body.lifecycleNotificationUrl as string | undefined, clientState: body.clientState as string | undefined,
      expirationDateTime, applicationId: c.app.clientId, immutableIds: c.immutableIds, matches: target.matches, kind: target.kind,
    };
    subscriptions.set(subscription.id, subscription);
    return json(201, renderSubscription(subscription));
  }, false);
  core.route('GET', '/subscriptions', [], (c) => json(200, { value: [...subscriptions.values()].filter((s) => s.applicationId === c.app.clientId).map(renderSubscription) }), false);
  core.route('GET', '/subscriptions/:id', [], (c) => json(200, renderSubscription(requireSubscription(c))), false);
  core.route('PATCH', '/subscriptions/:id', [], (c) => {
    const subscription = requireSubscription(c);
    subscription.expirationDateTime = checkExpiration(subscription.kind, (c.request.body as { expirationDateTime?: unknown } | undefined)?.expirationDateTime);
    return json(200, renderSubscription(subscription));
  }, false);
  core.route('DELETE', '/subscriptions/:id', [], (c) => {
    subscriptions.delete(requireSubscription(c).id);
    return empty(204);
  }, false);
  core.route('POST', '/subscriptions/:id/reauthorize', [], (c) => {
    requireSubscription(c);
    return empty(200);
  }, false);

  return {
    drop(on: boolean) {
      dropping = on;
    },
    async lifecycle(event: 'missed' | 'subscriptionRemoved' | 'reauthorizationRequired') {
      for (const s of subscriptions.values()) {
        if (!s.lifecycleNotificationUrl) continue;
        if (event === 'subscriptionRemoved') subscriptions.delete(s.id);
        await post(s.lifecycleNotificationUrl, { value: [{
          subscriptionId: s.id, subscriptionExpirationDateTime: s.expirationDateTime, tenantId: core.tenantId, clientState: s.clientState ?? null, lifecycleEvent: event,
        }] }, 3_000).catch(() => undefined);
      }
    },
    stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
