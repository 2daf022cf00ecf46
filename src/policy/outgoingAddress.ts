import addressparser from 'nodemailer/lib/addressparser';

/** A recipient the CRM names by address, as it goes on the message: the address lower-cased, as parties are stored. */
export interface OutgoingAddress {
  address: string;
  name: string | null;
}

// RFC 5322's dot-atom for the local part (no quoted strings: servers and CRMs choke on them), letters
// of any script allowed (SMTPUTF8); a domain of at least two dot-separated labels of letters, digits
// and inner hyphens, or an IP literal.
const LOCAL = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const LABEL = /^[\p{L}\p{N}]([\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?$/u;
const IP_LITERAL = /^\[(\d{1,3}(\.\d{1,3}){3}|IPv6:[0-9a-f:.]+)\]$/i;

/** Why `address` is no address to send to, or null when it is one. */
export function addressProblem(address: string): string | null {
  const at = address.lastIndexOf('@');
  if (at < 0) return 'it has no @';
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (!local) return 'nothing comes before the @';
  if (local.length > 64) return 'the part before the @ is over 64 characters';
  if (!LOCAL.test(local)) return 'the part before the @ has characters an address cannot have, or dots out of place';
  if (!domain) return 'no domain follows the @';
  if (address.length > 254) return 'it is over 254 characters';
  if (IP_LITERAL.test(domain)) return null;
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return `"${domain}" is not a domain name`;
  return null;
}

/**
 * One recipient written as an address, optionally with its name (`Ann <ann@example.com>`), as a
 * mail client would take it; or why it is not one (`{ error }`, to show the person who wrote it).
 */
export function parseOutgoingAddress(text: string): OutgoingAddress | { error: string } {
  if (/[\r\n]/.test(text)) return { error: 'it spans several lines' };
  const entries = addressparser(text);
  if (entries.length === 0) return { error: 'it is empty' };
  if (entries.length > 1) return { error: 'it is several addresses: give one per entry' };
  const [entry] = entries;
  if ('group' in entry && entry.group) return { error: 'it is a group: give its addresses one per entry' };
  if (!entry.address) return { error: 'it is a name without an address' };
  const problem = addressProblem(entry.address);
  if (problem) return { error: problem };
  return { address: entry.address.toLowerCase(), name: entry.name?.trim() || null };
}
