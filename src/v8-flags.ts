// The V8 settings a worker process runs with: favour a small heap, set at start-up so every way of starting a worker gets them.
import { setFlagsFromString } from 'node:v8';

/**
 * `--optimize-for-size`: V8 grows the old generation less eagerly and keeps a small young generation. A worker holds
 * thousands of jobs that mostly wait on sockets, and V8 keeps the pages it grew for a burst of job starts resident
 * afterwards, so its RSS follows the peak heap: with this flag 2,000 waiting jobs peak at ~100 MB of heap instead of
 * ~300 MB (bench/README.md, in-flight). The API role keeps V8's defaults (throughput first).
 */
export const WORKER_V8_FLAGS = ['--optimize-for-size'] as const;

let applied = false;

/**
 * Applies WORKER_V8_FLAGS to this process. Call it first thing, before the worker's modules load: V8 reads some of
 * these settings only when it sizes a space, so the earlier the better. Setting them on the command line
 * (`node --optimize-for-size dist/main.js worker`) does the same; both together are harmless.
 * NEMO_WORKER_V8_DEFAULTS=1 skips it (V8's defaults, e.g. to compare).
 */
export function applyWorkerV8Flags(env: NodeJS.ProcessEnv = process.env): boolean {
  if (applied || env.NEMO_WORKER_V8_DEFAULTS === '1') return applied;
  for (const flag of WORKER_V8_FLAGS) setFlagsFromString(flag);
  applied = true;
  return true;
}
