import { parseOutgoingAddress } from '../../src/policy/outgoingAddress';

describe('a recipient written as an address (the send route, `email send`)', () => {
  it('takes a bare address or a name with it, lower-casing the address as parties are stored', () => {
    expect(parseOutgoingAddress('Ann@Example.com')).toEqual({ address: 'ann@example.com', name: null });
    expect(parseOutgoingAddress('Ann Smith <ann@example.com>')).toEqual({ address: 'ann@example.com', name: 'Ann Smith' });
    expect(parseOutgoingAddress('"Doe, John" <john.doe+crm@mail.example.co.uk>')).toEqual({ address: 'john.doe+crm@mail.example.co.uk', name: 'Doe, John' });
    expect(parseOutgoingAddress('jörg@bücher.example')).toEqual({ address: 'jörg@bücher.example', name: null });
    expect(parseOutgoingAddress('ops@[192.0.2.1]')).toEqual({ address: 'ops@[192.0.2.1]', name: null });
  });

  it('says why something is not one address', () => {
    const problem = (text: string) => (parseOutgoingAddress(text) as { error: string }).error;
    expect(problem('not-an-address')).toMatch(/a name without an address/);
    expect(problem('bad@')).toMatch(/no domain/);
    expect(problem('@example.com')).toMatch(/nothing comes before/);
    expect(problem('ann@localhost')).toMatch(/not a domain name/);
    expect(problem('ann@exa_mple.com')).toMatch(/not a domain name/);
    expect(problem('ann@example..com')).toMatch(/not a domain name/);
    expect(problem('ann..smith@example.com')).toMatch(/dots out of place/);
    expect(problem('a@example.com, b@example.com')).toMatch(/several addresses/);
    expect(problem('team: a@example.com;')).toMatch(/group/);
    expect(problem('a@example.com\r\nBcc: x@example.com')).toMatch(/several lines/);
    expect(problem(`${'x'.repeat(65)}@example.com`)).toMatch(/over 64/);
    expect(problem('')).toMatch(/empty/);
  });
});
