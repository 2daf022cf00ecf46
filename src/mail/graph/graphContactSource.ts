import type { Contact } from '@microsoft/microsoft-graph-types';
import type { SourceCursor } from '../mailSource';
import { StaleChangeKeyError, type ItemFields, type ItemPage, type ItemRejectedError, type ItemSource, type ItemStamp, type RemoteItem } from '../../sync/items/itemSource';
import { CONTACT_MAPI_PROPERTIES, contactFromGraph, contactMatchKeys, contactPatch, contactToGraph } from './graphContactMapper';
import {
  CRM_ITEM_ID_PROPERTY,
  getMany,
  ITEM_PREFER,
  changeKeyOf,
  modifiedAtOf,
  deltaRound,
  expandProperties,
  getOrNull,
  itemWrite,
  OutlookItems,
  pathId,
  propertyValue,
  writeWithChangeKey,
} from './graphItems';
import { GraphRequestError, type GraphSession } from './graphSession';

/** Every extended property a contact is read with: the CRM id and the fields Graph lacks. */
const EXPAND = expandProperties([CRM_ITEM_ID_PROPERTY, ...Object.values(CONTACT_MAPI_PROPERTIES)]);

/**
 * A mailbox's contacts in Graph: delta per contact folder, the CRM id in our named property. Graph
 * documents only $select for contact delta (graph.md §2.3), and $expand on Outlook delta has been
 * seen to fail with a 500 (microsoft-graph-docs issues 1993, 2270): the extended properties of the
 * contacts a page lists are read by id, twenty to a $batch.
 */
export class GraphContactSource implements ItemSource {
  readonly entity = 'contact' as const;

  constructor(private readonly session: GraphSession) {}

  private get base(): string {
    return this.session.userPath;
  }

  private get items(): OutlookItems {
    return new OutlookItems(this.session, `${this.base}/contacts`);
  }

  async containers(): Promise<string[]> {
    // The default folder is not among /contactFolders (those are its children): asked for by its well-known name.
    try {
      const folder = await this.session.request<{ id: string }>({ method: 'GET', url: `${this.base}/contactFolders/contacts`, prefer: ITEM_PREFER });
      return [folder.id];
    } catch (err) {
      if (!(err instanceof GraphRequestError) || (err.statusCode !== 404 && err.statusCode !== 400)) throw err;
    }
    const any = await this.session.request<{ value: Contact[] }>({ method: 'GET', url: `${this.base}/contacts?$top=1&$select=parentFolderId`, prefer: ITEM_PREFER });
    return [any.value[0]?.parentFolderId ?? 'contacts'];
  }

  pull(container: string, cursor: SourceCursor | null): AsyncIterable<ItemPage> {
    const first = `${this.base}/contactFolders/${pathId(container)}/contacts/delta`;
    return deltaRound(this.session, first, cursor, (values, removed) => this.withProperties(values as Contact[], removed));
  }

  /** The page's contacts with their extended properties; one gone since is reported removed. */
  private async withProperties(contacts: Contact[], removed: string[]): Promise<{ changed: RemoteItem[]; removed: string[] }> {
    const paths = contacts.map((c) => `${this.base}/contacts/${pathId(c.id!)}?$select=id&$expand=${encodeURIComponent(EXPAND)}`);
    const properties = await getMany<Contact>(this.session, paths);
    const changed: RemoteItem[] = [];
    const gone = [...removed];
    contacts.forEach((contact, i) => {
      const found = properties[i];
      if (found) changed.push(remoteContact({ ...contact, singleValueExtendedProperties: found.singleValueExtendedProperties ?? [] }));
      else gone.push(contact.id!);
    });
    return { changed, removed: gone };
  }

  async get(_container: string, remoteId: string): Promise<RemoteItem | null> {
    const contact = await getOrNull<Contact>(this.session, `${this.base}/contacts/${pathId(remoteId)}?$expand=${encodeURIComponent(EXPAND)}`);
    return contact ? remoteContact(contact) : null;
  }

  async create(container: string, fields: ItemFields, crmId: string): Promise<RemoteItem> {
    const body = contactToGraph(fields);
    body.singleValueExtendedProperties = [...(body.singleValueExtendedProperties ?? []), { id: CRM_ITEM_ID_PROPERTY, value: crmId }];
    // Not repeated: a create that may have happened would make a second contact.
    const created = await itemWrite<Contact>(this.session, { method: 'POST', url: `${this.base}/contactFolders/${pathId(container)}/contacts`, body, repeatable: false }, null);
    return remoteContact({ ...created, singleValueExtendedProperties: body.singleValueExtendedProperties });
  }

  async update(container: string, remoteId: string, changeKey: string, fields: ItemFields): Promise<RemoteItem> {
    // Emails, phones and addresses are lists or objects in Graph: a change to one CRM field rewrites its whole property.
    const current = await this.get(container, remoteId);
    if (!current || current.changeKey !== changeKey) throw new StaleChangeKeyError(remoteId);
    const all = { ...current.fields, ...fields };
    const updated = await writeWithChangeKey<Contact>(this.session, remoteId, changeKey, {
      method: 'PATCH',
      url: `${this.base}/contacts/${pathId(remoteId)}`,
      body: contactPatch(all, Object.keys(fields)),
    });
    return { ...current, changeKey: changeKeyOf(updated), modifiedAt: modifiedAtOf(updated), categories: updated.categories ?? current.categories, matchKeys: contactMatchKeys(all), fields: all };
  }

  stamp(_container: string, remoteId: string, changeKey: string, crmId: string | null): Promise<string> {
    return this.items.stamp(remoteId, changeKey, crmId);
  }

  stampMany(stamps: ItemStamp[]): Promise<(string | ItemRejectedError | StaleChangeKeyError)[]> {
    return this.items.stampMany(stamps);
  }

  delete(_container: string, remoteId: string): Promise<void> {
    return this.items.delete(remoteId);
  }
}

export function remoteContact(contact: Contact): RemoteItem {
  const fields = contactFromGraph(contact);
  return {
    remoteId: contact.id!,
    changeKey: changeKeyOf(contact),
    modifiedAt: modifiedAtOf(contact),
    crmId: propertyValue(contact, CRM_ITEM_ID_PROPERTY) || null,
    categories: contact.categories ?? [],
    matchKeys: contactMatchKeys(fields),
    fields,
  };
}
