import { GraphFault, faults, json, type FakeResponse } from '../http';
import { permissionSets, type FakeCore, type RouteContext } from '../core';
import type { Container, Mailbox } from '../state';
import { queryValue } from '../delta';

/** A folder by id, well-known name (inbox, sentitems, …) or, for people using the fake, display name. */
export function resolveMailFolder(mailbox: Mailbox, key: string): Container | undefined {
  const direct = mailbox.mailFolders.get(key);
  if (direct) return direct;
  const lower = key.toLowerCase();
  for (const folder of mailbox.mailFolders.values()) if (folder.wellKnownName === lower) return folder;
  return undefined;
}

export function requireMailFolder(mailbox: Mailbox, key: string): Container {
  const folder = resolveMailFolder(mailbox, key);
  if (!folder) throw new GraphFault(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  return folder;
}

export function renderFolder(folder: Container): Record<string, unknown> {
  const children = [...folder.mailbox.mailFolders.values()].filter((f) => f.parentFolderId === folder.id).length;
  let unread = 0;
  for (const item of folder.items.values()) if (item.data.isRead === false) unread++;
  return {
    id: folder.id,
    displayName: folder.displayName,
    parentFolderId: folder.parentFolderId,
    childFolderCount: children,
    unreadItemCount: unread,
    totalItemCount: folder.items.size,
    sizeInBytes: folder.items.size * 4096,
    isHidden: false,
  };
}

/** Collections answer `$top` (default 10) pages with `$skip` nextLinks, like Graph lists do. */
export function pageOf<T>(context: RouteContext, items: T[], defaultTop = 10, contextName = 'Collection'): FakeResponse {
  const top = Math.min(1000, Number(queryValue(context.request.query, '$top') ?? defaultTop) || defaultTop);
  const skip = Number(queryValue(context.request.query, '$skip') ?? 0) || 0;
  const body: Record<string, unknown> = { '@odata.context': `${context.core.origin}/v1.0/$metadata#${contextName}` };
  body.value = items.slice(skip, skip + top);
  if (skip + top < items.length) {
    const query = new URLSearchParams(context.request.query);
    for (const key of [...query.keys()]) if (key.toLowerCase() === '$skip') query.delete(key);
    query.set('$skip', String(skip + top));
    body['@odata.nextLink'] = `${context.core.origin}/v1.0${context.request.path}?${query.toString()}`;
  }
  return json(200, body);
}

function createFolder(context: RouteContext, parentId: string): FakeResponse {
  const body = (context.request.body ?? {}) as { displayName?: unknown };
  if (typeof body.displayName !== 'string' || !body.displayName.trim()) throw faults.badRequest('The displayName of a folder is required.', 'ErrorInvalidRequest');
  const taken = [...context.mailbox.mailFolders.values()].some(
    (f) => f.parentFolderId === parentId && f.displayName.toLowerCase() === String(body.displayName).toLowerCase());
  if (taken) throw new GraphFault(409, 'ErrorFolderExists', 'A folder with the specified name already exists.');
  const folder = context.core.store.addContainer(context.mailbox, 'message', body.displayName, undefined, parentId);
  return json(201, renderFolder(folder));
}

export function registerMailFolderRoutes(core: FakeCore): void {
  const read = permissionSets.mailRead;
  core.route('GET', '/users/:user/mailFolders', read, (c) =>
    pageOf(c, [...c.mailbox.mailFolders.values()].filter((f) => f.parentFolderId === c.mailbox.rootFolderId).map(renderFolder), 10, 'users/mailFolders'));
  core.route('GET', '/users/:user/mailFolders/:folder', read, (c) => json(200, renderFolder(requireMailFolder(c.mailbox, c.params.folder))));
  core.route('GET', '/users/:user/mailFolders/:folder/childFolders', read, (c) => {
    const parent = c.params.folder.toLowerCase() === 'msgfolderroot' ? c.mailbox.rootFolderId : requireMailFolder(c.mailbox, c.params.folder).id;
    return pageOf(c, [...c.mailbox.mailFolders.values()].filter((f) => f.parentFolderId === parent).map(renderFolder));
  });
  core.route('POST', '/users/:user/mailFolders', permissionSets.mailWrite, (c) => createFolder(c, c.mailbox.rootFolderId));
  core.route('POST', '/users/:user/mailFolders/:folder/childFolders', permissionSets.mailWrite, (c) =>
    createFolder(c, requireMailFolder(c.mailbox, c.params.folder).id));
}
