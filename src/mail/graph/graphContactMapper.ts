import type { Contact, PhysicalAddress } from '@microsoft/microsoft-graph-types';
import type { ItemFields } from '../../sync/items/itemSource';

/**
 * A Graph contact <-> the CRM contact's fields (src/crm/itemFields.ts CONTACT_FIELDS), pure. What
 * Graph v1.0 has no property for (other, company, callback, assistant phones, fax, pager, FTP site,
 * government id, anniversary) travels in the MAPI properties Outlook shows them from. The account
 * link, owner and state are the CRM's own and never reach Exchange.
 */

/** MAPI property tags of the fields Graph's contact lacks (MS-OXPROPS), as Graph names them. */
export const CONTACT_MAPI_PROPERTIES: Record<string, string> = {
  otherPhone: 'String 0x3A1F', // PidTagOtherTelephoneNumber
  companyPhone: 'String 0x3A57', // PidTagCompanyMainTelephoneNumber
  callbackPhone: 'String 0x3A02', // PidTagCallbackTelephoneNumber
  assistantPhone: 'String 0x3A2E', // PidTagAssistantTelephoneNumber
  fax: 'String 0x3A24', // PidTagBusinessFaxNumber
  pager: 'String 0x3A21', // PidTagPagerTelephoneNumber
  ftpSite: 'String 0x3A4C', // PidTagFtpSite
  governmentId: 'String 0x3A07', // PidTagGovernmentIdNumber
  anniversary: 'SystemTime 0x3A41', // PidTagWeddingAnniversary
};

const SIMPLE: Record<string, keyof Contact> = {
  fullName: 'displayName',
  firstName: 'givenName',
  middleName: 'middleName',
  lastName: 'surname',
  nickname: 'nickName',
  yomiFirstName: 'yomiGivenName',
  yomiLastName: 'yomiSurname',
  mobilePhone: 'mobilePhone',
  assistantName: 'assistantName',
  managerName: 'manager',
  spouseName: 'spouseName',
  companyName: 'companyName',
  jobTitle: 'jobTitle',
  department: 'department',
  website: 'businessHomePage',
  description: 'personalNotes',
};

const ADDRESSES: Array<[1 | 2 | 3, 'businessAddress' | 'homeAddress' | 'otherAddress']> = [
  [1, 'businessAddress'],
  [2, 'homeAddress'],
  [3, 'otherAddress'],
];
const ADDRESS_PARTS: Array<[string, keyof PhysicalAddress]> = [
  ['Street', 'street'],
  ['City', 'city'],
  ['State', 'state'],
  ['PostalCode', 'postalCode'],
  ['Country', 'countryOrRegion'],
];

/** The CRM contact fields this mapper carries, in CONTACT_FIELDS order-independent form. */
export const GRAPH_CONTACT_FIELDS: string[] = [
  ...Object.keys(SIMPLE),
  'email', 'email2', 'email3', 'businessPhone', 'businessPhone2', 'homePhone', 'homePhone2', 'childrenNames', 'birthday',
  ...ADDRESSES.flatMap(([n]) => ADDRESS_PARTS.map(([part]) => `address${n}${part}`)),
  ...Object.keys(CONTACT_MAPI_PROPERTIES),
];

/** The Graph property a CRM field is written through (extended ones: singleValueExtendedProperties). */
export function contactGraphProperty(field: string): string | undefined {
  if (SIMPLE[field]) return SIMPLE[field];
  if (/^email[23]?$/.test(field)) return 'emailAddresses';
  if (/^businessPhone2?$/.test(field)) return 'businessPhones';
  if (/^homePhone2?$/.test(field)) return 'homePhones';
  if (field === 'childrenNames') return 'children';
  if (field === 'birthday') return 'birthday';
  const address = /^address([123])/.exec(field);
  if (address) return ADDRESSES[Number(address[1]) - 1][1];
  if (CONTACT_MAPI_PROPERTIES[field]) return 'singleValueExtendedProperties';
  return undefined;
}

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/** A contact as Graph gives it (with the MAPI properties expanded) -> the CRM fields. */
export function contactFromGraph(contact: Contact): ItemFields {
  const fields: ItemFields = {};
  for (const [field, property] of Object.entries(SIMPLE)) fields[field] = text(contact[property]);
  // Slots by position: an empty entry keeps the place of a cleared email 2 (see contactToGraph).
  const emails = (contact.emailAddresses ?? []).map((e) => text(e.address));
  [fields.email, fields.email2, fields.email3] = [emails[0] ?? null, emails[1] ?? null, emails[2] ?? null];
  [fields.businessPhone, fields.businessPhone2] = [text(contact.businessPhones?.[0]), text(contact.businessPhones?.[1])];
  [fields.homePhone, fields.homePhone2] = [text(contact.homePhones?.[0]), text(contact.homePhones?.[1])];
  const children = (contact.children ?? []).filter((c) => text(c) !== null);
  fields.childrenNames = children.length ? children.join(', ') : null;
  fields.birthday = text(contact.birthday)?.slice(0, 10) ?? null;
  for (const [n, property] of ADDRESSES) {
    const address = contact[property] ?? {};
    for (const [part, key] of ADDRESS_PARTS) fields[`address${n}${part}`] = text(address[key]);
  }
  for (const [field, id] of Object.entries(CONTACT_MAPI_PROPERTIES)) {
    const value = text(contact.singleValueExtendedProperties?.find((p) => p.id?.toLowerCase() === id.toLowerCase())?.value);
    fields[field] = field === 'anniversary' ? (value?.slice(0, 10) ?? null) : value;
  }
  return fields;
}

/**
 * The CRM fields -> a Graph contact body with every property they make up. Missing fields count as
 * empty: pass a whole record, and pick what a partial update needs with contactPatch.
 */
export function contactToGraph(fields: ItemFields): Contact {
  const contact: Contact = {};
  const value = (field: string): string | null => text(fields[field]);
  for (const [field, property] of Object.entries(SIMPLE)) (contact as Record<string, unknown>)[property] = value(field);
  // Outlook's E-mail 1-3 are the list's places: a cleared one before a set one stays as an empty entry.
  const emails = ['email', 'email2', 'email3'].map(value);
  while (emails.length && emails[emails.length - 1] === null) emails.pop();
  contact.emailAddresses = emails.map((address) => (address ? { address, name: address } : { address: '', name: '' }));
  contact.businessPhones = ['businessPhone', 'businessPhone2'].map(value).filter((p): p is string => p !== null);
  contact.homePhones = ['homePhone', 'homePhone2'].map(value).filter((p): p is string => p !== null);
  contact.children = value('childrenNames') ? [value('childrenNames')!] : [];
  // Outlook keeps birthdays at 11:59 UTC so that no time zone moves them to another day.
  contact.birthday = value('birthday') ? `${value('birthday')}T11:59:00Z` : null;
  for (const [n, property] of ADDRESSES) {
    const address: PhysicalAddress = {};
    for (const [part, key] of ADDRESS_PARTS) address[key] = value(`address${n}${part}`);
    contact[property] = address;
  }
  contact.singleValueExtendedProperties = Object.entries(CONTACT_MAPI_PROPERTIES)
    // A time property cannot hold an empty string: an anniversary is set, never cleared, from here.
    .filter(([field]) => field !== 'anniversary' || value(field) !== null)
    .map(([field, id]) => ({ id, value: field === 'anniversary' ? `${value(field)}T11:59:00Z` : (value(field) ?? '') }));
  return contact;
}

/** The part of contactToGraph(all) that writes `changed` fields: what a PATCH sends. */
export function contactPatch(all: ItemFields, changed: string[]): Contact {
  const full = contactToGraph(all) as Record<string, unknown>;
  const patch: Record<string, unknown> = {};
  const extended = new Set<string>();
  for (const field of changed) {
    const property = contactGraphProperty(field);
    if (!property) continue;
    if (property === 'singleValueExtendedProperties') extended.add(CONTACT_MAPI_PROPERTIES[field].toLowerCase());
    else patch[property] = full[property];
  }
  if (extended.size) {
    patch.singleValueExtendedProperties = (full.singleValueExtendedProperties as Array<{ id: string }>).filter((p) => extended.has(p.id.toLowerCase()));
  }
  return patch as Contact;
}

/** Lower case, accents and punctuation kept, runs of white space as one space. */
export function normalizedName(name: string): string {
  return name.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/**
 * First-enable match keys of a contact, the same for a CRM record and an Exchange item: its
 * lower-cased email addresses, and `name:` + its normalised full name.
 */
export function contactMatchKeys(fields: ItemFields): string[] {
  const keys = ['email', 'email2', 'email3'].map((f) => text(fields[f])?.toLowerCase()).filter((a): a is string => Boolean(a));
  const name = text(fields.fullName);
  if (name) keys.push(`name:${normalizedName(name)}`);
  return [...new Set(keys)];
}
