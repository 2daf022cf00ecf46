import type { GraphFake } from './graphFake';
import type { TestBed } from './testBed';

/**
 * An exchange_online profile on the fake (its default app, or `app`), a CRM user, and that user's
 * mailbox on the fake user `address`, outgoing enabled and incoming off.
 */
export async function exchangeMailbox(
  bed: TestBed,
  fake: GraphFake,
  address: string,
  app: { clientId: string; clientSecret: string } = fake,
): Promise<{ profileId: string; userId: string; mailboxId: string }> {
  const { id: profileId } = await bed.admin.createProfile({
    name: `Fake tenant for ${address}`,
    serverType: 'exchange_online',
    tenantId: fake.tenantId,
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    graphBaseUrl: fake.graphBaseUrl,
    authorityHost: fake.authorityHost,
  });
  const { id: userId } = await bed.admin.createUser({ fullName: `Owner of ${address}`, email: address });
  const { id: mailboxId } = await bed.admin.createMailbox({ emailAddress: address, profileId, ownerUserId: userId, emailApproved: true, incomingEnabled: false });
  await bed.query(`UPDATE mailboxes SET outgoing_enabled = true WHERE id = $1`, [mailboxId]);
  return { profileId, userId, mailboxId };
}
