import { spawnSync } from 'node:child_process';
import { ensureFakeCertificates, extraCaFileWith } from '../graphFake/certificates';
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

/**
 * runBenchmark for a benchmark that reaches the Graph fake over HTTPS. Node reads NODE_EXTRA_CA_CERTS
 * only at start: without the fake's CA in it, the benchmark (`file`) runs itself again with it.
 */
export function runBenchmarkTrustingGraphFake(file: string, body: () => Promise<void>): void {
  if (process.env.CRM_SYNC_BENCH_TRUSTS_FAKE) {
    runBenchmark(body);
    return;
  }
  (async () => {
    const { caFile } = await ensureFakeCertificates();
    const again = spawnSync(process.execPath, ['--import', 'tsx', file], {
      stdio: 'inherit',
      env: { ...process.env, NODE_EXTRA_CA_CERTS: extraCaFileWith(caFile, process.env.NODE_EXTRA_CA_CERTS), CRM_SYNC_BENCH_TRUSTS_FAKE: '1' },
    });
    process.exit(again.status ?? 1);
  })();
}
