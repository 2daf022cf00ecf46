import { GRAPH_CONTACT_FIELDS, contactFromGraph, contactMatchKeys, contactPatch, contactToGraph } from '../../src/mail/graph/graphContactMapper';
import { CONTACT_FIELDS } from '../../src/crm/itemFields';

const full = {
  fullName: 'Dr. Ada Lovelace', firstName: 'Ada', middleName: 'King', lastName: 'Lovelace', nickname: 'Ada',
  yomiFirstName: 'エイダ', yomiLastName: 'ラブレス',
  email: 'ada@analytical.example', email2: 'countess@lovelace.example', email3: 'ada.k@home.example',
  businessPhone: '+44 20 7946 0001', businessPhone2: '+44 20 7946 0002', homePhone: '+44 20 7946 0003', homePhone2: '+44 20 7946 0004',
  mobilePhone: '+44 7700 900001', otherPhone: '+44 20 7946 0005', companyPhone: '+44 20 7946 0000', callbackPhone: '+44 20 7946 0006',
  assistantPhone: '+44 20 7946 0007', fax: '+44 20 7946 0008', pager: '+44 20 7946 0009',
  assistantName: 'Mary', managerName: 'Charles Babbage', spouseName: 'William King', childrenNames: 'Byron, Annabella, Ralph',
  address1Street: '12 St James Square\nSecond floor', address1City: 'London', address1State: 'Greater London', address1PostalCode: 'SW1Y 4JH', address1Country: 'United Kingdom',
  address2Street: 'Ockham Park', address2City: 'Ockham', address2State: 'Surrey', address2PostalCode: 'GU23 6NN', address2Country: 'United Kingdom',
  address3Street: '1 Other Road', address3City: 'Bath', address3State: null, address3PostalCode: 'BA1 1AA', address3Country: 'United Kingdom',
  companyName: 'Analytical Engines Ltd', jobTitle: 'Mathematician', department: 'Research', birthday: '1815-12-10', anniversary: '1835-07-08',
  website: 'https://analytical.example', ftpSite: 'ftp://analytical.example', governmentId: 'GB-1815', description: 'Notes\non two lines',
};

describe('contact mapper', () => {
  it('carries every synced CRM contact field but the CRM-only ones, CRM -> Graph -> CRM unchanged', () => {
    const crmOnly = ['accountId', 'ownerUserId', 'state', 'createdAt', 'modifiedAt'];
    expect(new Set(GRAPH_CONTACT_FIELDS)).toEqual(new Set(Object.keys(CONTACT_FIELDS).filter((f) => !crmOnly.includes(f))));
    expect(new Set(Object.keys(full))).toEqual(new Set(GRAPH_CONTACT_FIELDS));
    expect(contactFromGraph(contactToGraph(full))).toEqual(full);
  });

  it('maps to the Graph properties Outlook shows', () => {
    const graph = contactToGraph(full);
    expect(graph.displayName).toBe('Dr. Ada Lovelace');
    expect(graph.emailAddresses?.map((e) => e.address)).toEqual([full.email, full.email2, full.email3]);
    expect(graph.businessPhones).toEqual([full.businessPhone, full.businessPhone2]);
    expect(graph.businessAddress).toEqual({ street: full.address1Street, city: 'London', state: 'Greater London', postalCode: 'SW1Y 4JH', countryOrRegion: 'United Kingdom' });
    expect(graph.manager).toBe('Charles Babbage');
    expect(graph.singleValueExtendedProperties).toContainEqual({ id: 'String 0x3A24', value: full.fax });
    expect(graph.birthday).toBe('1815-12-10T11:59:00Z');
  });

  it('reads an empty Graph contact as empty fields, and a clear of a field writes it empty', () => {
    const empty = contactFromGraph({ displayName: 'Only Name', emailAddresses: [], personalNotes: '' });
    expect(empty.fullName).toBe('Only Name');
    expect(Object.entries(empty).filter(([k, v]) => k !== 'fullName' && v !== null)).toEqual([]);
    // Email 3 keeps its place when email 2 is cleared.
    expect(contactFromGraph(contactToGraph({ ...full, email2: null }))).toEqual({ ...full, email2: null });
    expect(contactToGraph({ ...full, email3: null }).emailAddresses).toHaveLength(2);
  });

  it('patches only the Graph properties the changed fields make up', () => {
    expect(contactPatch(full, ['email2'])).toEqual({ emailAddresses: contactToGraph(full).emailAddresses });
    expect(contactPatch({ ...full, pager: null }, ['pager', 'jobTitle'])).toEqual({ jobTitle: 'Mathematician', singleValueExtendedProperties: [{ id: 'String 0x3A21', value: '' }] });
    expect(Object.keys(contactPatch(full, ['address2City']))).toEqual(['homeAddress']);
  });

  it('gives lower-cased addresses and the normalised name as match keys', () => {
    expect(contactMatchKeys({ fullName: '  Ada   LOVELACE ', email: 'Ada@Analytical.Example', email2: null, email3: 'ada@analytical.example' }))
      .toEqual(['ada@analytical.example', 'name:ada lovelace']);
  });
});
