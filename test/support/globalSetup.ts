import { execFileSync } from 'node:child_process';
import { ensureFakeCertificates, extraCaFileWith } from '../graphFake/certificates';
import { startSharedBed, type SharedBed } from './sharedBed';

/** Fails the run at once, with how to fix it, when a component of the bed is missing. */
export default async function globalSetup(): Promise<void> {
  try {
    execFileSync('dovecot', ['--version'], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  } catch {
    throw new Error('Dovecot is not installed: apt-get install -y dovecot-imapd dovecot-pop3d dovecot-lmtpd (or run .ci/run)');
  }
  // Node reads NODE_EXTRA_CA_CERTS only at start: set it here, before jest forks its workers, so they
  // (and the processes tests spawn) trust the Graph fake's CA.
  process.env.NODE_EXTRA_CA_CERTS = extraCaFileWith((await ensureFakeCertificates()).caFile, process.env.NODE_EXTRA_CA_CERTS);
  // Read back by globalTeardown, which jest runs in this same process.
  (globalThis as { __crmSyncBed?: SharedBed }).__crmSyncBed = await startSharedBed('crm_sync_test');
}
