import type { OutgoingEmail } from '../../src/store/outgoingStore';

/** A fresh outgoing email as the outbox hands it to the send engine: one recipient, plain text, never tried. */
export function outgoingEmail(id: string): OutgoingEmail {
  return {
    id,
    messageId: `<${id}@example.test>`,
    date: new Date(0),
    interrupted: false,
    accepted: false,
    sendAttempts: 0,
    draftId: null,
    to: [{ address: 'bob@example.test', name: null }],
    cc: [],
    bcc: [],
    subject: id,
    bodyText: 'hello',
    bodyHtml: null,
    inReplyTo: null,
    references: [],
    attachments: [],
  };
}
