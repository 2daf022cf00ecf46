import type { SharedBed } from './sharedBed';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __crmSyncBed?: SharedBed }).__crmSyncBed?.teardown();
}
