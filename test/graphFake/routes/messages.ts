import type { Message } from '@microsoft/microsoft-graph-types';
import { GraphFault, empty, faults, json, opaque, preference, randomUUID } from '../http';
import { permissionSets, type FakeCore, type FakeUser, type RouteContext } from '../core';
import { parseCommonDeltaOptions, queryValue } from '../delta';
import { idsEqual, parseSelect, render } from '../render';
import type { Container, FakeAttachment, ItemRecord, Mailbox } from '../state';
import { pageOf, requireMailFolder } from './mailFolders';

const writableOnCreate = new Set([
  '@odata.type', 'subject', 'body', 'toRecipients', 'ccRecipients', 'bccRecipients', 'replyTo', 'from', 'sender', 'importance', 'categories',
  'isRead', 'flag', 'internetMessageHeaders', 'singleValueExtendedProperties', 'attachments', 'isDeliveryReceiptRequested',
  'isReadReceiptRequested', 'internetMessageId', 'inferenceClassification', 'receivedDateTime', 'sentDateTime', 'conversationId',
]);
const writableOnUpdate = new Set([
  'subject', 'body', 'toRecipients', 'ccRecipients', 'bccRecipients', 'replyTo', 'from', 'sender', 'importance', 'categories', 'isRead', 'flag',
  'singleValueExtendedProperties', 'inferenceClassification', 'isDeliveryReceiptRequested', 'isReadReceiptRequested',
]);

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function preview(body: unknown): string {
  const content = String((body as { content?: string } | undefined)?.content ?? '');
  const contentType = String((body as { contentType?: string } | undefined)?.contentType ?? 'text').toLowerCase();
  const text = contentType === 'html' ? content.replace(/<[^>]*>/g, ' ') : content;
  return text.replace(/\s+/g, ' ').trim().slice(0, 255);
}

function domainOf(address: string): string {
  return address.split('@')[1] ?? 'fake.onmicrosoft.com';
}

export function newInternetMessageId(user: { mail: string }): string {
  return `<${opaque(18).replace(/[-_]/g, 'A').toUpperCase()}@${domainOf(user.mail).toUpperCase()}>`;
}

function checkHeaders(headers: unknown): void {
  if (headers === undefined || headers === null) return;
  if (!Array.isArray(headers)) throw faults.badRequest('internetMessageHeaders must be an array of {name, value}.', 'RequestBodyRead');
  for (const header of headers as Array<{ name?: unknown }>) {
    const name = String(header?.name ?? '');
    if (!/^x-/i.test(name)) {
      throw faults.badRequest(`The internet message header name '${name}' should start with 'x-' or 'X-'.`, 'InvalidInternetMessageHeader');
    }
  }
}

function checkKnown(body: Record<string, unknown>, allowed: Set<string>): void {
  for (const key of Object.keys(body)) {
    if (!allowed.has(key) && !key.startsWith('@')) {
      throw faults.badRequest(
        `The property '${key}' does not exist on type 'microsoft.graph.message'. Make sure to only use property names that are defined by the type or mark the type as open type.`,
        'RequestBodyRead');
    }
  }
}

function applyExtendedProperties(record: ItemRecord, properties: unknown): void {
  if (!Array.isArray(properties)) return;
  for (const property of properties as Array<{ id?: string; value?: string }>) {
    if (!property?.id) throw faults.badRequest('An extended property needs an id.', 'ErrorInvalidExtendedProperty');
    const existing = [...record.extendedProperties.keys()].find((id) => idsEqual(id, property.id!));
    if (existing) record.extendedProperties.delete(existing);
    record.extendedProperties.set(property.id, String(property.value ?? ''));
  }
}

function toAttachment(input: Record<string, unknown>): FakeAttachment {
  if (input['@odata.type'] !== undefined && input['@odata.type'] !== '#microsoft.graph.fileAttachment') {
    throw faults.badRequest(`Only file attachments are supported by the Graph fake (got ${String(input['@odata.type'])}).`, 'ErrorInvalidRequest');
  }
  if (typeof input.name !== 'string' || typeof input.contentBytes !== 'string') {
    throw faults.badRequest('A file attachment needs name and contentBytes.', 'ErrorInvalidRequest');
  }
  return {
    id: `AAMkAGAtt${opaque(30)}=`,
    name: input.name,
    contentType: String(input.contentType ?? 'application/octet-stream'),
    contentBytes: input.contentBytes,
    isInline: input.isInline === true,
    contentId: typeof input.contentId === 'string' ? input.contentId : undefined,
    lastModifiedDateTime: now(),
  };
}

/** Message properties for a new item; `defaults` fill what a server would set. */
export function messageData(input: Partial<Message> & Record<string, unknown>, owner: FakeUser, defaults: Partial<Message>): Record<string, unknown> {
  const at = now();
  const data: Record<string, unknown> = {
    receivedDateTime: at, sentDateTime: at, hasAttachments: false,
    internetMessageId: newInternetMessageId(owner),
    subject: '', importance: 'normal', conversationId: `AAQkAG${opaque(30)}=`, conversationIndex: Buffer.from(randomUUID()).toString('base64').slice(0, 30),
    isDeliveryReceiptRequested: false, isReadReceiptRequested: false, isRead: true, isDraft: false,
    webLink: `https://outlook.office365.com/owa/?ItemID=${opaque(20)}&exvsurl=1&viewmodel=ReadMessageItem`,
    inferenceClassification: 'focused',
    body: { contentType: 'text', content: '' },
    sender: { emailAddress: { name: owner.displayName, address: owner.mail } },
    from: { emailAddress: { name: owner.displayName, address: owner.mail } },
    toRecipients: [], ccRecipients: [], bccRecipients: [], replyTo: [],
    flag: { flagStatus: 'notFlagged' }, categories: [],
    ...defaults,
  };
  for (const [key, value] of Object.entries(input)) {
    if (['attachments', 'singleValueExtendedProperties', 'id', '@odata.type', 'hasAttachments', 'parentFolderId', 'changeKey'].includes(key)) continue;
    data[key] = value;
  }
  if (input.from && !input.sender) data.sender = input.from;
  data.bodyPreview = preview(data.body);
  return data;
}

/** Inserts a message with its attachments and extended properties. */
export function insertMessage(core: FakeCore, folder: Container, data: Record<string, unknown>, input: Record<string, unknown>): ItemRecord {
  const record = core.store.insert(folder, data);
  if (Array.isArray(input.attachments)) record.attachments = (input.attachments as Array<Record<string, unknown>>).map(toAttachment);
  applyExtendedProperties(record, input.singleValueExtendedProperties);
  return record;
}

export function requireMessage(core: FakeCore, mailbox: Mailbox, id: string): ItemRecord {
  const record = core.store.findRecord(mailbox, id, 'message');
  if (!record) throw faults.notFound();
  return record;
}

function renderMessage(context: RouteContext, record: ItemRecord): Record<string, unknown> {
  return render(record, {
    select: parseSelect(queryValue(context.request.query, '$select')),
    expand: queryValue(context.request.query, '$expand'),
    immutableIds: context.immutableIds,
    bodyAsText: preference(context.request.headers, 'outlook.body-content-type')?.toLowerCase() === 'text',
  });
}

function checkIfMatch(context: RouteContext, record: ItemRecord): void {
  const ifMatch = context.request.headers['if-match'];
  if (ifMatch && ifMatch !== '*' && ifMatch.replace(/^W\//, '').replace(/"/g, '') !== record.changeKey) throw faults.staleChangeKey();
}

type Predicate = (record: ItemRecord) => boolean;

/** The $filter forms the product and people use on message lists (graph.md §4.1, §5). */
export function messageFilter(filter: string | undefined): Predicate {
  if (!filter) return () => true;
  const clauses = splitAnd(filter);
  const predicates = clauses.map((clause): Predicate => {
    let m = /^internetMessageId\s+eq\s+'((?:[^']|'')*)'$/i.exec(clause);
    if (m) {
      const wanted = m[1].replace(/''/g, "'");
      return (r) => r.data.internetMessageId === wanted;
    }
    m = /^(receivedDateTime|sentDateTime|lastModifiedDateTime|createdDateTime)\s+(ge|gt|le|lt|eq)\s+(\S+)$/i.exec(clause);
    if (m && !Number.isNaN(Date.parse(m[3]))) {
      const field = m[1].charAt(0).toLowerCase() + m[1].slice(1);
      const at = Date.parse(m[3]);
      const op = m[2].toLowerCase();
      return (r) => {
        const value = Date.parse(String(r.data[field]));
        return op === 'ge' ? value >= at : op === 'gt' ? value > at : op === 'le' ? value <= at : op === 'lt' ? value < at : value === at;
      };
    }
    m = /^(isRead|isDraft)\s+eq\s+(true|false)$/i.exec(clause);
    if (m) {
      const field = m[1].toLowerCase() === 'isread' ? 'isRead' : 'isDraft';
      const wanted = m[2].toLowerCase() === 'true';
      return (r) => r.data[field] === wanted;
    }
    m = /^singleValueExtendedProperties\/any\(\s*(\w+)\s*:\s*\1\/id\s+eq\s+'((?:[^']|'')*)'\s+and\s+\1\/value\s+eq\s+'((?:[^']|'')*)'\s*\)$/i.exec(clause);
    if (m) {
      const id = m[2].replace(/''/g, "'");
      const value = m[3].replace(/''/g, "'").toLowerCase();
      return (r) => [...r.extendedProperties].some(([pid, pv]) => idsEqual(pid, id) && pv.toLowerCase() === value);
    }
    throw faults.badRequest(`The Graph fake does not understand the filter clause '${clause}'.`, 'ErrorInvalidUrlQueryFilter');
  });
  return (record) => predicates.every((p) => p(record));
}

function splitAnd(filter: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < filter.length; i++) {
    const ch = filter[i];
    if (ch === "'") quoted = !quoted;
    else if (!quoted && ch === '(') depth++;
    else if (!quoted && ch === ')') depth--;
    else if (!quoted && depth === 0 && /^\sand\s/i.test(filter.slice(i, i + 5))) {
      parts.push(filter.slice(start, i).trim());
      start = i + 5;
      i += 4;
    }
  }
  parts.push(filter.slice(start).trim());
  return parts.filter(Boolean);
}

function listMessages(context: RouteContext, records: Iterable<ItemRecord>): ReturnType<typeof pageOf> {
  const predicate = messageFilter(queryValue(context.request.query, '$filter'));
  const orderBy = queryValue(context.request.query, '$orderby') ?? 'receivedDateTime desc';
  const m = /^\s*(receivedDateTime|sentDateTime|lastModifiedDateTime|createdDateTime)(?:\s+(asc|desc))?\s*$/i.exec(orderBy);
  if (!m) throw faults.badRequest(`The Graph fake does not support $orderby '${orderBy}'.`, 'ErrorInvalidUrlQuery');
  const field = m[1].charAt(0).toLowerCase() + m[1].slice(1);
  const direction = (m[2] ?? 'asc').toLowerCase() === 'desc' ? -1 : 1;
  const matching = [...records].filter(predicate);
  matching.sort((a, b) => direction * (Date.parse(String(a.data[field])) - Date.parse(String(b.data[field]))));
  return pageOf(context, matching.map((r) => renderMessage(context, r)), 10, `users('${context.user.id}')/messages`);
}

/** Delivery after send: the Sent Items copy (new id, same internetMessageId), local recipients, NDRs. */
export function deliver(core: FakeCore, sender: FakeUser, data: Record<string, unknown>, source: ItemRecord | Record<string, unknown>, saveToSentItems: boolean): void {
  const attachments = 'attachments' in source && Array.isArray(source.attachments) ? (source.attachments as FakeAttachment[]) : [];
  const extended = 'extendedProperties' in source && source.extendedProperties instanceof Map ? (source.extendedProperties as Map<string, string>) : undefined;
  setTimeout(() => {
    const mailbox = core.store.mailboxes.get(sender.id);
    if (!mailbox) return;
    const at = now();
    const sent = { ...data, isDraft: false, isRead: true, sentDateTime: at, receivedDateTime: at };
    if (saveToSentItems) {
      const copy = core.store.insert(requireMailFolder(mailbox, 'sentitems'), sent);
      copy.attachments = attachments.map((a) => ({ ...a }));
      if (extended) for (const [id, value] of extended) copy.extendedProperties.set(id, value);
      else applyExtendedProperties(copy, (source as Record<string, unknown>).singleValueExtendedProperties);
    }
    const recipients = ['toRecipients', 'ccRecipients', 'bccRecipients'].flatMap(
      (key) => ((data[key] as Array<{ emailAddress?: { address?: string } }>) ?? []).map((r) => r.emailAddress?.address ?? ''));
    for (const address of recipients) {
      const local = core.findUser(address);
      if (local?.hasMailbox) {
        const inbox = requireMailFolder(core.mailboxOf(local), 'inbox');
        core.store.insert(inbox, { ...sent, isRead: false, conversationId: data.conversationId, internetMessageHeaders: data.internetMessageHeaders });
      } else if (/\.invalid$/i.test(domainOf(address))) {
        core.store.insert(requireMailFolder(mailbox, 'inbox'), messageData({
          subject: `Undeliverable: ${String(data.subject ?? '')}`,
          from: { emailAddress: { name: 'Microsoft Outlook', address: `MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@${domainOf(sender.mail)}` } },
          toRecipients: [{ emailAddress: { name: sender.displayName, address: sender.mail } }],
          body: { contentType: 'text', content: `Delivery has failed to these recipients or groups: ${address}. The domain does not exist.` },
        }, sender, { isRead: false }));
      }
    }
  }, core.sentItemsDelayMs).unref();
}

function checkRecipients(data: Record<string, unknown>): void {
  const count = ['toRecipients', 'ccRecipients', 'bccRecipients'].reduce((n, key) => n + ((data[key] as unknown[]) ?? []).length, 0);
  if (count === 0) throw new GraphFault(400, 'ErrorInvalidRecipients', 'At least one recipient is required, but none were found.');
  if (count > 500) throw new GraphFault(400, 'ErrorTooManyRecipients', 'The message exceeds the maximum supported number of recipients (500).');
}

export function registerMessageRoutes(core: FakeCore): void {
  const { mailRead, mailWrite, mailSend } = permissionSets;
  core.route('GET', '/users/:user/messages', mailRead, (c) => listMessages(c, [...c.mailbox.mailFolders.values()].flatMap((f) => [...f.items.values()])));
  core.route('GET', '/users/:user/mailFolders/:folder/messages', mailRead, (c) => listMessages(c, requireMailFolder(c.mailbox, c.params.folder).items.values()));
  core.route('GET', '/users/:user/mailFolders/:folder/messages/delta', mailRead, (c) => {
    const folder = requireMailFolder(c.mailbox, c.params.folder);
    return core.delta.serve(c.request, folder, `/users/${c.user.id}/mailfolders('${folder.id}')/messages/delta`, (q) => parseCommonDeltaOptions(q, true));
  });
  core.route('GET', '/users/:user/messages/:id', mailRead, (c) => json(200, renderMessage(c, requireMessage(core, c.mailbox, c.params.id))));
  core.route('GET', '/users/:user/mailFolders/:folder/messages/:id', mailRead, (c) => json(200, renderMessage(c, requireMessage(core, c.mailbox, c.params.id))));

  const create = (c: RouteContext, folder: Container) => {
    const body = (c.request.body ?? {}) as Record<string, unknown>;
    checkKnown(body, writableOnCreate);
    checkHeaders(body.internetMessageHeaders);
    const record = insertMessage(core, folder, messageData(body, c.user, { isDraft: true }), body);
    return json(201, render(record, { immutableIds: c.immutableIds }));
  };
  core.route('POST', '/users/:user/messages', mailWrite, (c) => create(c, requireMailFolder(c.mailbox, 'drafts')));
  core.route('POST', '/users/:user/mailFolders/:folder/messages', mailWrite, (c) => create(c, requireMailFolder(c.mailbox, c.params.folder)));

  core.route('PATCH', '/users/:user/messages/:id', mailWrite, (c) => {
    const record = requireMessage(core, c.mailbox, c.params.id);
    checkIfMatch(c, record);
    const body = (c.request.body ?? {}) as Record<string, unknown>;
    checkKnown(body, writableOnUpdate);
    const { singleValueExtendedProperties, ...patch } = body;
    applyExtendedProperties(record, singleValueExtendedProperties);
    if (patch.body) patch.bodyPreview = preview(patch.body);
    core.store.touch(record, patch);
    return json(200, render(record, { immutableIds: c.immutableIds }));
  });
  core.route('DELETE', '/users/:user/messages/:id', mailWrite, (c) => {
    const record = requireMessage(core, c.mailbox, c.params.id);
    checkIfMatch(c, record);
    const deleted = requireMailFolder(c.mailbox, 'deleteditems');
    if (record.container === deleted) core.store.remove(record);
    else core.store.move(record, deleted);
    return empty(204);
  });
  core.route('POST', '/users/:user/messages/:id/permanentDelete', mailWrite, (c) => {
    core.store.remove(requireMessage(core, c.mailbox, c.params.id));
    return empty(204);
  });
  core.route('POST', '/users/:user/messages/:id/move', mailWrite, (c) => {
    const record = requireMessage(core, c.mailbox, c.params.id);
    const destinationId = (c.request.body as { destinationId?: string } | undefined)?.destinationId;
    if (!destinationId) throw faults.badRequest('destinationId is required.', 'ErrorInvalidRequest');
    core.store.move(record, requireMailFolder(c.mailbox, destinationId));
    return json(201, render(record, { immutableIds: c.immutableIds }));
  });
  core.route('GET', '/users/:user/messages/:id/attachments', mailRead, (c) => {
    const record = requireMessage(core, c.mailbox, c.params.id);
    return pageOf(c, (render(record, { immutableIds: true, expand: 'attachments' }).attachments as unknown[]), 1000);
  });
  core.route('GET', '/users/:user/messages/:id/attachments/:attachment', mailRead, (c) => {
    const record = requireMessage(core, c.mailbox, c.params.id);
    const found = (render(record, { immutableIds: true, expand: 'attachments' }).attachments as Array<{ id: string }>).find((a) => a.id === c.params.attachment);
    if (!found) throw faults.notFound();
    return json(200, found);
  });
  core.route('POST', '/users/:user/messages/:id/attachments', mailWrite, (c) => {
    const record = requireMessage(core, c.mailbox, c.params.id);
    const attachment = toAttachment((c.request.body ?? {}) as Record<string, unknown>);
    if (attachment.contentBytes.length > 4 * 1024 * 1024) {
      throw new GraphFault(413, 'ErrorRequestEntityTooLarge', 'The attachment is over 3 MB; use an upload session.');
    }
    record.attachments.push(attachment);
    core.store.touch(record);
    return json(201, (render(record, { immutableIds: true, expand: 'attachments' }).attachments as unknown[]).at(-1));
  });
  core.route('POST', '/users/:user/messages/:id/send', mailSend, (c) => {
    const record = requireMessage(core, c.mailbox, c.params.id);
    if (record.data.isDraft !== true) throw new GraphFault(400, 'ErrorInvalidOperation', 'Only drafts can be sent; this message was sent already.');
    checkRecipients(record.data);
    core.store.remove(record);
    deliver(core, c.user, { ...record.data }, record, true);
    return empty(202);
  });
  core.route('POST', '/users/:user/sendMail', mailSend, (c) => {
    const body = (c.request.body ?? {}) as { message?: Record<string, unknown>; saveToSentItems?: unknown };
    if (!body.message || typeof body.message !== 'object') throw faults.badRequest("Empty Payload. JSON content expected.", 'ErrorInvalidRequest');
    checkKnown(body.message, writableOnCreate);
    checkHeaders(body.message.internetMessageHeaders);
    const data = messageData(body.message, c.user, {});
    checkRecipients(data);
    deliver(core, c.user, data, body.message, body.saveToSentItems !== false && body.saveToSentItems !== 'false');
    return empty(202);
  });
  core.route('GET', '/users/:user', permissionSets.directory, (c) =>
    json(200, {
      '@odata.context': `${core.origin}/v1.0/$metadata#users/$entity`,
      id: c.user.id, displayName: c.user.displayName, mail: c.user.mail, userPrincipalName: c.user.userPrincipalName,
      businessPhones: [], givenName: null, surname: null, jobTitle: null, mobilePhone: null, officeLocation: null, preferredLanguage: null,
    }), false);
  core.route('GET', '/users/:user/mailboxSettings', mailRead, (c) =>
    json(200, { timeZone: 'UTC', language: { locale: 'en-US', displayName: 'English (United States)' }, userPurpose: 'user', archiveFolder: requireMailFolder(c.mailbox, 'archive').id }));
}

export function registerUserListRoute(core: FakeCore): void {
  core.route('GET', '/users', permissionSets.directory, (c) =>
    pageOf(c, core.users.map((u) => ({ id: u.id, displayName: u.displayName, mail: u.mail, userPrincipalName: u.userPrincipalName })), 100, 'users'), false);
}
