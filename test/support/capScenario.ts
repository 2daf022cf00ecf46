import type { ChildProcess } from 'node:child_process';
import { DovecotServer } from './dovecot';
import { makeMessage } from './messages';
import { CountingTcpProxy } from './tcpProxy';
import { eventually, TestBed } from './testBed';
import { killHard, spawnWorker } from './workerProcess';

export interface CapMeasurement {
  mailboxes: number;
  cap: number;
  workers: number;
  maxConcurrent: number;
  meanConcurrent: number;
  /** Mean connections over the cap while the backlog drained. */
  utilisation: number;
  connections: number;
  seconds: number;
}

/**
 * `mailboxes` mailboxes on one profile capped at `cap`, synced by `workers` worker processes,
 * with every connection to the server counted by a TCP proxy in front of Dovecot.
 */
export async function measureServerCap(opts: { mailboxes: number; cap: number; workers: number }): Promise<CapMeasurement> {
  const bed = await TestBed.create({ SYNC_DEFAULT_INTERVAL_SECONDS: '3600' });
  const dovecot = await DovecotServer.start();
  const proxy = await CountingTcpProxy.start(dovecot.host, dovecot.imapPort);
  const workers: ChildProcess[] = [];
  try {
    const users = Array.from({ length: opts.mailboxes }, (_, i) => ({ user: `cap${i}@example.test`, password: 'secret' }));
    await dovecot.addUsers(users);
    for (const { user } of users) await dovecot.deliver(user, [makeMessage({ to: user, subject: `For ${user}` })]);
    const profile = await bed.admin.createProfile({
      name: 'Capped server',
      serverType: 'imap',
      incomingHost: proxy.host,
      incomingPort: proxy.port,
      incomingSecurity: 'none',
      minPollingIntervalSeconds: 3600,
      maxConcurrentConnections: opts.cap,
    });
    for (let i = 0; i < opts.workers; i++) workers.push(spawnWorker(bed.env));
    // Queue the whole backlog before the workers have a chance to drain it.
    await Promise.all(
      users.map(({ user }) => bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId: profile.id, password: 'secret' })),
    );
    // The backlog is measured from the first connection: worker start-up is not the server's idle time.
    await eventually('the first connection', async () => proxy.totalConnections > 0, 60_000, 5);
    const before = proxy.totalConnections;
    proxy.resetCounters();
    const started = Date.now();
    await eventually(
      'every mailbox synced',
      async () => (await bed.query<{ n: number }>(`SELECT count(*)::int AS n FROM item_links`))[0].n === opts.mailboxes,
      300_000,
      50,
    );
    const seconds = (Date.now() - started) / 1000;
    const meanConcurrent = proxy.meanConcurrent();
    return {
      mailboxes: opts.mailboxes,
      cap: opts.cap,
      workers: opts.workers,
      maxConcurrent: proxy.maxConcurrent,
      meanConcurrent,
      utilisation: meanConcurrent / opts.cap,
      connections: before + proxy.totalConnections,
      seconds,
    };
  } finally {
    await Promise.all(workers.map((w) => killHard(w)));
    await proxy.close();
    await bed.close();
    await dovecot.destroy();
  }
}
