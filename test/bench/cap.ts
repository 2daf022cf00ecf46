/**
 * npm run bench:cap — 200 mailboxes on one server capped at 4 connections, synced by two worker
 * processes; a TCP proxy in front of Dovecot counts the connections actually open.
 */
import { measureServerCap } from '../support/capScenario';
import { runBenchmark } from './run';

async function main(): Promise<void> {
  const mailboxes = Number(process.env.BENCH_MAILBOXES ?? 200);
  const cap = Number(process.env.BENCH_CAP ?? 4);
  const m = await measureServerCap({ mailboxes, cap, workers: 2 });
  console.log('');
  console.log(`mailboxes: ${m.mailboxes}, cap: ${m.cap}, worker processes: ${m.workers}`);
  console.log(`connections opened:        ${m.connections} in ${m.seconds.toFixed(1)} s`);
  console.log(`max concurrent (server):   ${m.maxConcurrent} (cap ${m.cap})`);
  console.log(`mean concurrent (backlog): ${m.meanConcurrent.toFixed(2)}`);
  console.log(`utilisation of the cap:    ${(m.utilisation * 100).toFixed(0)}%`);
}

runBenchmark(main);
