import { formatRetryAfter, pathSegments } from '../graphFake/core';
import { preference } from '../graphFake/http';
import { idsEqual, splitTopLevel } from '../graphFake/render';
import { messageFilter } from '../graphFake/routes/messages';
import { Store } from '../graphFake/state';

describe('Graph fake request parsing', () => {
  it('reads OData key syntax and plain segments alike', () => {
    expect(pathSegments("/users/u1/mailfolders('AQMk%3D%3D')/messages/delta")).toEqual(['users', 'u1', 'mailfolders', 'AQMk==', 'messages', 'delta']);
    expect(pathSegments('/users/u1/mailFolders/inbox/messages')).toEqual(['users', 'u1', 'mailFolders', 'inbox', 'messages']);
  });

  it('reads one preference out of a combined Prefer header', () => {
    const headers = { prefer: 'odata.maxpagesize=50, IdType="ImmutableId"' };
    expect(preference(headers, 'odata.maxpagesize')).toBe('50');
    expect(preference(headers, 'idtype')).toBe('ImmutableId');
    expect(preference({}, 'IdType')).toBeUndefined();
  });

  it('compares extended property ids with a case-sensitive name only', () => {
    const id = 'String {8ECCC264-6880-4EBE-992F-8888D2EEAA1D} Name CrmId';
    expect(idsEqual(id, 'string {8eccc264-6880-4ebe-992f-8888d2eeaa1d} name CrmId')).toBe(true);
    expect(idsEqual(id, 'String {8ECCC264-6880-4EBE-992F-8888D2EEAA1D} Name crmid')).toBe(false);
  });

  it('splits $expand at top-level commas only', () => {
    expect(splitTopLevel("attachments,singleValueExtendedProperties($filter=id eq 'String {x} Name a,b')")).toEqual([
      'attachments', "singleValueExtendedProperties($filter=id eq 'String {x} Name a,b')",
    ]);
  });

  it('formats Retry-After as whole or fractional seconds', () => {
    expect(formatRetryAfter(3)).toBe('3');
    expect(formatRetryAfter(2.1284)).toBe('2.128');
  });

  it('filters messages by internetMessageId, dates and extended property values (value case-insensitive)', () => {
    const store = new Store();
    const mailbox = store.createMailbox('user');
    const inbox = [...mailbox.mailFolders.values()][0];
    const record = store.insert(inbox, { internetMessageId: "<a'b@x>", receivedDateTime: '2030-01-02T00:00:00Z' });
    record.extendedProperties.set('String {00020329-0000-0000-C000-000000000046} Name CrmId', 'ABC-1');
    expect(messageFilter("internetMessageId eq '<a''b@x>'")(record)).toBe(true);
    expect(messageFilter('receivedDateTime ge 2030-01-01T00:00:00Z and receivedDateTime lt 2030-01-03T00:00:00Z')(record)).toBe(true);
    expect(messageFilter('receivedDateTime gt 2030-01-02T00:00:00Z')(record)).toBe(false);
    expect(messageFilter("singleValueExtendedProperties/Any(ep: ep/id eq 'String {00020329-0000-0000-C000-000000000046} Name CrmId' and ep/value eq 'abc-1')")(record)).toBe(true);
    expect(() => messageFilter("startswith(subject,'x')")).toThrow(/does not understand/);
  });
});
