import { startSharedBed } from '../support/sharedBed';

/** Runs a benchmark on its own bed (Temporal dev server, template database), then exits with its outcome. */
export function runBenchmark(body: () => Promise<void>): void {
  (async () => {
    const shared = await startSharedBed('crm_sync_bench');
    try {
      await body();
    } finally {
      await shared.teardown();
    }
  })().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
