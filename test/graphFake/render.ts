import { faults } from './http';
import { odataType, restId, type ItemRecord } from './state';

export interface RenderOptions {
  /** Lower-case property names from $select; undefined = the default set. */
  select?: string[];
  expand?: string;
  immutableIds: boolean;
  /** Delta items and notifications carry @odata.type. */
  withType?: boolean;
  /** `Prefer: outlook.body-content-type="text"`: HTML bodies come back as text. */
  bodyAsText?: boolean;
}

function asText(body: unknown): unknown {
  const item = body as { contentType?: string; content?: string } | undefined;
  if (item?.contentType?.toLowerCase() !== 'html') return body;
  const text = String(item.content ?? '')
    .replace(/<(br|\/p|\/div|\/li|\/tr|\/h\d)\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&nbsp;/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
  return { contentType: 'text', content: text.replace(/[ \t]+\n/g, '\n').trim() };
}

/** Properties Graph returns only when $select names them. */
const selectOnly: Record<string, string[]> = { message: ['internetMessageHeaders', 'uniqueBody'] };

export function recordId(record: ItemRecord, immutableIds: boolean): string {
  return immutableIds ? record.core : restId(record);
}

/** Splits `a,b($filter=x eq 'y, z'),c` at top-level commas. */
export function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (const ch of text) {
    if (ch === "'") quoted = !quoted;
    if (!quoted && ch === '(') depth++;
    if (!quoted && ch === ')') depth--;
    if (ch === ',' && depth === 0 && !quoted) {
      parts.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim()) parts.push(current.trim());
  return parts;
}

export function parseSelect(value: string | null | undefined): string[] | undefined {
  if (!value) return undefined;
  return value.split(',').map((name) => name.trim().toLowerCase()).filter(Boolean);
}

/** The ids of `$filter=id eq 'a' or id eq 'b'` in an $expand option; undefined without a filter. */
function expandFilterIds(option: string): string[] | undefined {
  if (!/\$filter\s*=/i.test(option)) return undefined;
  return [...option.matchAll(/\bid\s+eq\s+'((?:[^']|'')*)'/gi)].map((m) => m[1].replace(/''/g, "'"));
}

function renderAttachment(attachment: ItemRecord['attachments'][number]): Record<string, unknown> {
  return {
    '@odata.type': '#microsoft.graph.fileAttachment',
    '@odata.mediaContentType': attachment.contentType,
    id: attachment.id,
    lastModifiedDateTime: attachment.lastModifiedDateTime,
    name: attachment.name,
    contentType: attachment.contentType,
    size: Buffer.byteLength(attachment.contentBytes, 'base64'),
    isInline: attachment.isInline,
    contentId: attachment.contentId ?? null,
    contentLocation: null,
    contentBytes: attachment.contentBytes,
  };
}

type Recipient = { emailAddress?: { name?: string; address?: string } };

function mailbox(recipient: Recipient | undefined): string {
  const address = recipient?.emailAddress?.address ?? '';
  const name = recipient?.emailAddress?.name;
  return name ? `"${name}" <${address}>` : `<${address}>`;
}

/**
 * What Graph returns for `$select=internetMessageHeaders`: a sent or received message carries its
 * transport headers (Message-ID, In-Reply-To, References… as stored, plus the basics derived from
 * the item); a draft only the custom x- headers it was created with.
 */
function internetMessageHeaders(record: ItemRecord): Array<{ name: string; value: string }> {
  const stored = (record.data.internetMessageHeaders as Array<{ name: string; value: string }> | undefined) ?? [];
  if (record.data.isDraft === true) return stored;
  const data = record.data;
  const list = (key: string) => ((data[key] as Recipient[] | undefined) ?? []).map(mailbox).join(', ');
  const derived: Array<{ name: string; value: string }> = [
    { name: 'Message-ID', value: String(data.internetMessageId ?? '') },
    { name: 'Date', value: new Date(String(data.sentDateTime ?? data.createdDateTime)).toUTCString().replace('GMT', '+0000') },
    { name: 'From', value: mailbox(data.from as Recipient | undefined) },
    { name: 'To', value: list('toRecipients') },
    ...(list('ccRecipients') ? [{ name: 'Cc', value: list('ccRecipients') }] : []),
    { name: 'Subject', value: String(data.subject ?? '') },
    { name: 'MIME-Version', value: '1.0' },
    { name: 'Content-Type', value: (data.body as { contentType?: string } | undefined)?.contentType === 'html' ? 'text/html; charset="utf-8"' : 'text/plain; charset="utf-8"' },
  ];
  const storedNames = new Set(stored.map((h) => h.name.toLowerCase()));
  return [...derived.filter((h) => !storedNames.has(h.name.toLowerCase())), ...stored];
}

function allProperties(record: ItemRecord, immutableIds: boolean): Record<string, unknown> {
  const properties: Record<string, unknown> = { id: recordId(record, immutableIds) };
  switch (record.kind) {
    case 'message':
      Object.assign(properties, record.data, {
        changeKey: record.changeKey,
        parentFolderId: record.container.id,
        hasAttachments: record.attachments.some((a) => !a.isInline),
        internetMessageHeaders: internetMessageHeaders(record),
        uniqueBody: record.data.body,
      });
      break;
    case 'contact':
      Object.assign(properties, record.data, { changeKey: record.changeKey, parentFolderId: record.container.id });
      break;
    case 'event':
      Object.assign(properties, record.data, { changeKey: record.changeKey });
      break;
    default:
      Object.assign(properties, record.data);
  }
  return properties;
}

export function render(record: ItemRecord, options: RenderOptions): Record<string, unknown> {
  const all = allProperties(record, options.immutableIds);
  if (options.bodyAsText && all.body) all.body = asText(all.body);
  if (options.bodyAsText && all.uniqueBody) all.uniqueBody = asText(all.uniqueBody);
  const out: Record<string, unknown> = {};
  if (options.withType) out['@odata.type'] = odataType[record.kind];
  out['@odata.etag'] = `W/"${record.changeKey}"`;
  if (options.select) {
    const byLower = new Map(Object.keys(all).map((key) => [key.toLowerCase(), key]));
    for (const name of options.select) {
      const key = byLower.get(name);
      if (key) out[key] = all[key];
    }
    out.id = all.id;
  } else {
    const hidden = selectOnly[record.kind] ?? [];
    for (const [key, value] of Object.entries(all)) if (!hidden.includes(key)) out[key] = value;
  }
  for (const part of options.expand ? splitTopLevel(options.expand) : []) {
    const name = part.replace(/\(.*$/s, '').trim().toLowerCase();
    if (name === 'attachments' && record.kind !== 'todoTaskList') {
      out.attachments = record.attachments.map(renderAttachment);
    } else if (name === 'singlevalueextendedproperties' && ['message', 'contact', 'event'].includes(record.kind)) {
      const only = expandFilterIds(part);
      const matching = [...record.extendedProperties].filter(([id]) => only === undefined || only.some((o) => idsEqual(id, o)));
      out.singleValueExtendedProperties = matching.map(([id, value]) => ({ id, value }));
    } else if (name === 'extensions') {
      const only = expandFilterIds(part);
      out.extensions = [...record.extensions.values()].filter((e) => only === undefined || only.some((o) => sameExtension(String(e.extensionName), o)));
    } else if (name === 'linkedresources' && record.kind === 'todoTask') {
      out.linkedResources = record.linkedResources ?? [];
    } else {
      throw faults.badRequest(`Could not find a property named '${part}' on type '${odataType[record.kind].slice(1)}'.`, 'BadRequest');
    }
  }
  return out;
}

/**
 * Extended property ids: the type, GUID and `Name`/`Id` keywords compare case-insensitively, the
 * name itself case-sensitively (graph.md §4.1).
 */
export function idsEqual(a: string, b: string): boolean {
  const split = (id: string) => {
    const match = /^(\S+)\s+(\{[^}]+\}|0x[0-9a-f]+)(?:\s+(Name|Id)\s+(.+))?$/i.exec(id.trim());
    return match ? { head: `${match[1]} ${match[2]} ${match[3] ?? ''}`.toLowerCase(), name: match[4] ?? '' } : { head: id, name: '' };
  };
  const x = split(a);
  const y = split(b);
  return x.head === y.head && x.name === y.name;
}

function sameExtension(extensionName: string, filterId: string): boolean {
  return extensionName === filterId || `Microsoft.OutlookServices.OpenTypeExtension.${extensionName}` === filterId;
}
