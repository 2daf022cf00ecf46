import { execFileSync } from 'node:child_process';
import { startSharedBed, type SharedBed } from './sharedBed';

/** Fails the run at once, with how to fix it, when a component of the bed is missing. */
export default async function globalSetup(): Promise<void> {
  try {
    execFileSync('dovecot', ['--version'], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  } catch {
    throw new Error('Dovecot is not installed: apt-get install -y dovecot-imapd dovecot-pop3d dovecot-lmtpd (or run .ci/run)');
  }
  // Read back by globalTeardown, which jest runs in this same process.
  (globalThis as { __crmSyncBed?: SharedBed }).__crmSyncBed = await startSharedBed('crm_sync_test');
}
