// Benchmark runner: `npm run bench [-- name…] [--quick] [--runs=N]`; prints a table per benchmark and writes bench/results/*.json.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { accept } from './accept.js';
import { cluster } from './cluster.js';
import { fairness } from './fairness.js';
import { inFlight } from './in-flight.js';
import { latency } from './latency.js';
import { mirror } from './mirror.js';
import { cpuSnapshot, describeMachine, machineLine, othersCpuPercent } from './lib/machine.js';
import { BENCH_SERVICE_ENV, REDIS_URL } from './lib/env.js';
import { HEADER, loadNow, markdownTable, printResult, RESULTS_DIR, saveResult, tableRows, type Benchmark, type Envelope } from './lib/report.js';
import { orchestration } from './orchestration.js';
import { uploads } from './uploads.js';
import { webhooks } from './webhooks.js';

const BENCHMARKS: Benchmark[] = [accept, orchestration, inFlight, latency, uploads, webhooks, mirror, fairness, cluster];

function parseArgs(argv: string[]) {
  const names: string[] = [];
  let quick = process.env.BENCH_QUICK === '1';
  let runs = 3;
  for (const arg of argv) {
    if (arg === '--quick') quick = true;
    else if (arg.startsWith('--runs=')) runs = Math.max(1, Number(arg.slice('--runs='.length)) || 3);
    else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`);
    else names.push(arg);
  }
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')}; choose from ${BENCHMARKS.map((b) => b.name).join(', ')}`);
  const chosen = names.length === 0 ? BENCHMARKS : BENCHMARKS.filter((b) => names.includes(b.name));
  return { chosen, quick, runs: quick ? Math.min(runs, 1) : runs };
}

async function main(): Promise<number> {
  const { chosen, quick, runs } = parseArgs(process.argv.slice(2));
  const machine = await describeMachine(REDIS_URL);
  console.log(`# nemo-relay benchmarks${quick ? ' (quick: figures not for quoting)' : ''}\n\nMachine: ${machineLine(machine)}`);
  if (Object.keys(BENCH_SERVICE_ENV).length > 0) console.log(`\nBENCH_SERVICE_ENV (not the production configuration): ${JSON.stringify(BENCH_SERVICE_ENV)}`);
  const envelopes: Envelope[] = [];
  let failures = 0;
  for (const bench of chosen) {
    const started = Date.now();
    const before = loadNow();
    const cpuBefore = await cpuSnapshot();
    const log = (message: string) => console.error(`[${bench.name} +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
    try {
      const result = await bench.run({ quick, runs, log });
      const envelope: Envelope = {
        ...result,
        startedAt: new Date(started).toISOString(),
        durationMs: Date.now() - started,
        quick,
        machine,
        load: { before, after: loadNow() },
        othersCpuPercent: othersCpuPercent(cpuBefore, await cpuSnapshot()),
      };
      printResult(envelope);
      log(`saved ${await saveResult(envelope)}`);
      envelopes.push(envelope);
    } catch (err) {
      failures += 1;
      console.log(`\n## ${bench.title}\nFAILED: ${(err as Error).stack ?? String(err)}`);
    }
  }
  if (envelopes.length > 1) {
    const rows = envelopes.flatMap((e) => tableRows(e.name, e.rows));
    console.log(`\n## Summary\n\n${markdownTable(HEADER, rows)}\n\nMachine: ${machineLine(machine)}`);
    for (const e of envelopes) {
      console.log(
        `- ${e.name}: load average (1 min) ${e.load.before[0]} before, ${e.load.after[0]} after; ` +
          `other processes (Redis included) ${e.othersCpuPercent ?? '?'} % of the CPU; ${Math.round(e.durationMs / 1000)} s`,
      );
    }
    await writeFile(join(RESULTS_DIR, 'summary.json'), JSON.stringify({ machine, benchmarks: envelopes }, null, 2) + '\n');
  }
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err.message);
    process.exit(2);
  },
);
