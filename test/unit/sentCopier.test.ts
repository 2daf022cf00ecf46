/**
 * When a sending run's Sent-copy connection opens and closes, against an in-memory folder and
 * slot counter: the scheduling only (test/outgoingSend.test.ts saves copies in Dovecot).
 */
import type { SentCopy, SentFolder } from '../../src/mail/mailSender';
import type { OutgoingStore } from '../../src/store/outgoingStore';
import { type CopyJob, SentCopier } from '../../src/sync/sentCopier';
import { outgoingEmail } from '../support/outgoingEmails';

const job = (...ids: string[]): CopyJob => ({ acceptedNow: ids.map((id) => ({ email: outgoingEmail(id), asSent: Buffer.from(id) })), acceptedEarlier: [] });

/** A folder server: how many connections were opened and are open, what was saved, and failures to play. */
function bed(failures: { open?: Error[]; save?: Error[] } = {}) {
  const state = { opened: 0, open: 0, slotsHeld: 0, saved: [] as string[], recorded: [] as { ids: string[]; copySaved: boolean }[] };
  const folder = (): SentFolder => ({
    find: async () => new Set(),
    save: async (copies: SentCopy[]) => {
      const err = failures.save?.shift();
      if (err) throw err;
      state.saved.push(...copies.map((c) => c.email.id));
    },
    close: async () => {
      state.open--;
    },
  });
  const copier = new SentCopier(
    {
      open: async () => {
        const err = failures.open?.shift();
        if (err) throw err;
        state.opened++;
        state.open++;
        return folder();
      },
      classify: (err) => ({ errorClass: (err as { permanent?: boolean }).permanent ? 'permanent' : 'transient', message: (err as Error).message }),
    },
    { key: 'profile', cap: 10 },
    { address: 'alice@example.test', name: null },
    {
      store: {
        recordSent: async (ids: string[], copySaved: boolean) => {
          state.recorded.push({ ids, copySaved });
        },
      } as unknown as OutgoingStore,
      withConnectionSlot: async (_slot, use) => {
        state.slotsHeld++;
        try {
          return await use();
        } finally {
          state.slotsHeld--;
        }
      },
    },
  );
  return { state, copier };
}

const settled = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

describe('SentCopier', () => {
  it('keeps one connection from batch to batch while the sending side does not wait for a slot, and closes it at the end', async () => {
    const { state, copier } = bed();
    copier.add(job('a1', 'a2'));
    await settled();
    expect(state.saved).toEqual(['a1', 'a2']);
    // Sending, or taking its next batch: the connection waits for that batch's copies.
    expect(state.open).toBe(1);
    copier.add(job('b1'));
    await settled();
    expect(state.open).toBe(1);
    await copier.finish();
    expect(state.saved).toEqual(['a1', 'a2', 'b1']);
    expect(state.opened).toBe(1);
    expect(state.open).toBe(0);
    expect(state.slotsHeld).toBe(0);
    expect(state.recorded).toEqual([
      { ids: ['a1', 'a2'], copySaved: true },
      { ids: ['b1'], copySaved: true },
    ]);
    expect(copier.sent).toBe(3);
  });

  it('gives its connection back when it has nothing to save while the sending side waits for one', async () => {
    const { state, copier } = bed();
    copier.add(job('a1'));
    await settled();
    expect(state.open).toBe(1);
    copier.setSendingWaitsForSlot(true);
    await settled();
    expect(state.open).toBe(0);
    expect(state.slotsHeld).toBe(0);
    copier.setSendingWaitsForSlot(false);
    copier.add(job('b1'));
    await copier.finish();
    expect(state.opened).toBe(2);
    expect(state.saved).toEqual(['a1', 'b1']);
  });

  it('stops when the folder cannot be reached, its emails left pending for the next run', async () => {
    const { state, copier } = bed({ open: [new Error('ECONNREFUSED')] });
    copier.add(job('a1'));
    copier.add(job('b1'));
    await copier.caughtUp();
    await copier.finish();
    expect(copier.unreachable).toBe('The Sent folder could not be reached: ECONNREFUSED');
    expect(state.saved).toEqual([]);
    expect(state.recorded).toEqual([]);
    // Neither is taken again in this run: both stay accepted, for the next run to copy.
    expect(copier.pendingEmailIds.sort()).toEqual(['a1', 'b1']);
    expect(copier.sent).toBe(0);
  });

  it('marks emails sent with a note when the server refuses their copy for good, and goes on with the next batch', async () => {
    const { state, copier } = bed({ save: [Object.assign(new Error('Quota exceeded'), { permanent: true })] });
    copier.add(job('a1'));
    copier.add(job('b1'));
    await copier.finish();
    expect(state.recorded).toEqual([
      { ids: ['a1'], copySaved: false },
      { ids: ['b1'], copySaved: true },
    ]);
    expect(state.saved).toEqual(['b1']);
    expect(copier.sent).toBe(2);
    expect(copier.unreachable).toBeNull();
  });
});
