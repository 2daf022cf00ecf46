/**
 * The send engine's handling of a failed database write between two emails, against an in-memory
 * outbox and transport: a moment the real bed cannot produce on demand (test/sendCrash.test.ts
 * kills the worker instead).
 */
import type { OutgoingRoute } from '../../src/mail/mailSender';
import { decideSendFailure } from '../../src/policy/outgoingSend';
import type { OutgoingContext, OutgoingEmail, OutgoingStore } from '../../src/store/outgoingStore';
import { runOutgoingSend } from '../../src/sync/outgoingSend';
import { outgoingEmail } from '../support/outgoingEmails';

const context: OutgoingContext = {
  mailboxId: 'mailbox-1',
  emailAddress: 'alice@example.test',
  senderName: null,
  ownerUserId: 'user-1',
  profileId: 'profile-1',
  serverType: 'imap',
  maxConcurrentConnections: 10,
  outgoingEnabled: true,
  smtp: null,
  graph: null,
  sentCopies: null,
  maxSendAttempts: 10,
};

describe('runOutgoingSend', () => {
  it('ends the run with the database error when an acceptance cannot be written, leaving the email `sending` and the server unblamed', async () => {
    const databaseDown = Object.assign(new Error('Connection terminated unexpectedly'), { code: '57P01' });
    const calls: string[] = [];
    const outbox = [outgoingEmail('a'), outgoingEmail('b')];
    const store = {
      loadOutgoingContext: async () => context,
      takeDueEmails: async () => outbox.splice(0),
      recordAccepted: async (id: string) => {
        calls.push(`recordAccepted ${id}`);
        throw databaseDown;
      },
      recordSent: async (ids: string[]) => void calls.push(`recordSent ${ids.join(',')}`),
      releaseUnsent: async (ids: string[]) => void calls.push(`releaseUnsent ${ids.join(',')}`),
      recordOutgoingUnreachable: async () => void calls.push('recordOutgoingUnreachable'),
      disableOutgoing: async () => void calls.push('disableOutgoing'),
    } as unknown as OutgoingStore;
    const route: OutgoingRoute = {
      slot: { key: 'profile-1', cap: 10 },
      openTransport: async () => ({
        send: async (e: OutgoingEmail) => {
          calls.push(`send ${e.id}`);
          return { rejected: [] };
        },
        close: async () => void calls.push('close'),
      }),
      decideFailure: (err) => decideSendFailure(err, false),
      findDelivered: async () => new Set(),
      sentCopies: null,
    };
    await expect(
      runOutgoingSend(context.mailboxId, {
        store,
        routeFor: () => route,
        withConnectionSlot: (_slot, use) => use(),
        batchSize: 50,
        retry: { firstRetryMs: 60_000, maxRetryMs: 3_600_000 },
      }),
    ).rejects.toBe(databaseDown);
    // 'a' went to the server and stays `sending` (never released to go again); 'b' never went.
    expect(calls).toEqual(['send a', 'recordAccepted a', 'close']);
  });
});
