// The V8 settings a worker process runs with: V8's defaults, plus opt-in flags from NEMO_WORKER_V8_FLAGS set at start-up.
import { setFlagsFromString } from 'node:v8';

/**
 * Workers run with V8's defaults. `--optimize-for-size` used to be set here: it kept the RSS of 2,000 waiting jobs low
 * but cost ~55 % more worker CPU per job (more GCs). The burst that grew the heap now allocates less, and
 * src/observability/heap-release.ts gives the pages back afterwards. An operator who prefers memory over CPU can still
 * ask for it: NEMO_WORKER_V8_FLAGS='--optimize-for-size' (any V8 flags, space-separated).
 */
export const WORKER_V8_FLAGS_ENV = 'NEMO_WORKER_V8_FLAGS';

/** The flags NEMO_WORKER_V8_FLAGS asks for (words starting with `--`; anything else is ignored). */
export function workerV8Flags(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env[WORKER_V8_FLAGS_ENV] ?? '').split(/\s+/).filter((w) => w.startsWith('--'));
}

let applied: string[] | null = null;

/**
 * Applies the opt-in flags to this process, once. Call it first thing, before the worker's modules load: V8 reads some
 * settings only when it sizes a space. Setting them on the command line (`node --optimize-for-size dist/main.js
 * worker`) does the same. Returns the flags applied (none by default).
 */
export function applyWorkerV8Flags(env: NodeJS.ProcessEnv = process.env): string[] {
  if (applied) return applied;
  applied = workerV8Flags(env);
  for (const flag of applied) setFlagsFromString(flag);
  return applied;
}
