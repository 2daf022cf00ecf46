import type { Message } from '@microsoft/microsoft-graph-types';
import type { NewProfileInput } from '../../src/admin/schemas';
import type { GraphFake } from './graphFake';
import type { TestBed } from './testBed';

/** An exchange_online profile for the Graph fake's default app (in this process or another), polled every second, plus `extra`. */
export function exchangeProfile(name: string, fake: Pick<GraphFake, 'tenantId' | 'clientId' | 'clientSecret' | 'graphBaseUrl' | 'authorityHost'>, extra: Partial<NewProfileInput> = {}): NewProfileInput {
  return {
    name,
    serverType: 'exchange_online',
    tenantId: fake.tenantId,
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    graphBaseUrl: fake.graphBaseUrl,
    authorityHost: fake.authorityHost,
    minPollingIntervalSeconds: 1,
    ...extra,
  };
}

/** A CRM user and an approved mailbox of the fake's user `mail`, syncing `folders`. */
export async function exchangeMailbox(bed: TestBed, profileId: string, mail: string, folders: string[] = ['INBOX']) {
  const { id: ownerUserId } = await bed.admin.createUser({ fullName: mail, email: mail });
  const { id: mailboxId } = await bed.admin.createMailbox({ emailApproved: true, emailAddress: mail, profileId, ownerUserId, folders });
  return { mailboxId, ownerUserId };
}

/** An incoming message from a customer, numbered. */
export function customerMessage(n: number, to: string, extra: Partial<Message> = {}): Partial<Message> {
  return {
    subject: `Customer message ${n}`,
    from: { emailAddress: { name: `Customer ${n % 50}`, address: `customer${n % 50}@customer.test` } },
    toRecipients: [{ emailAddress: { address: to } }],
    body: { contentType: 'html', content: `<p>Message <b>${n}</b> for you.</p>` },
    ...extra,
  };
}

/** The CRM side of a mailbox: each link's folder and remote id with its activity's Message-ID. */
export async function crmLinks(bed: TestBed, mailboxId: string) {
  return bed.query<{ folder: string; remoteId: string; messageId: string; activityId: string }>(
    `SELECT l.folder, l.remote_id AS "remoteId", e.message_id AS "messageId", e.id AS "activityId"
       FROM item_links l JOIN email_activities e ON e.id = l.crm_record_id WHERE l.mailbox_id = $1`,
    [mailboxId],
  );
}

/** Each folder's messages on the fake: `folder remoteId messageId` lines, sorted, to compare with crmLinks. */
export function mailboxLines(fake: GraphFake, mail: string, folders: Record<string, string>): string[] {
  const mailbox = fake.mailbox(mail);
  return Object.entries(folders)
    .flatMap(([crmFolder, fakeFolder]) => mailbox.list(fakeFolder).map((m) => `${crmFolder} ${m.id} ${m.internetMessageId}`))
    .sort();
}

export function linkLines(links: { folder: string; remoteId: string; messageId: string }[]): string[] {
  return links.map((l) => `${l.folder} ${l.remoteId} ${l.messageId}`).sort();
}
