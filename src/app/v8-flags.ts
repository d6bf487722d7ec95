// The V8 settings a worker process runs with: V8's defaults, plus opt-in flags from NEMO_WORKER_V8_FLAGS set at start-up.
import { spawnSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { z } from 'zod';

/**
 * Workers run with V8's defaults. `--optimize-for-size` used to be set here: it kept the RSS of 2,000 waiting jobs low
 * but cost ~55 % more worker CPU per job (more GCs). The burst that grew the heap now allocates less, and
 * src/observability/heap-release.ts gives the pages back afterwards. An operator who prefers memory over CPU can still
 * ask for it: NEMO_WORKER_V8_FLAGS='--optimize-for-size' (any V8 flags, space-separated).
 */
export const WORKER_V8_FLAGS_ENV = 'NEMO_WORKER_V8_FLAGS';

/** NEMO_WORKER_V8_FLAGS: V8 flags separated by spaces, each `--name` or `--name=value` (config.ts checks it too). */
export const workerV8FlagsSchema = z
  .string()
  .trim()
  .regex(/^(--[a-z0-9-]+(=\S+)?(\s+--[a-z0-9-]+(=\S+)?)*)?$/, 'V8 flags separated by spaces, e.g. "--optimize-for-size"')
  .default('');

/** The flags NEMO_WORKER_V8_FLAGS asks for; a value that is not a list of flags stops the worker with the reason. */
export function workerV8Flags(env: NodeJS.ProcessEnv = process.env): string[] {
  const parsed = workerV8FlagsSchema.safeParse(env[WORKER_V8_FLAGS_ENV]);
  if (!parsed.success) throw new Error(`${WORKER_V8_FLAGS_ENV}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const flags = parsed.data === '' ? [] : parsed.data.split(/\s+/);
  if (flags.length > 0) {
    refuseUnknown(flags);
    refuseBadValues(flags);
  }
  return flags;
}

/**
 * A known flag with a value V8 cannot take (`--max-old-space-size=abc`, `--stack-size=-5`) was only a printed line,
 * or worse, and the worker went on without it: the flags are tried on a Node process of their own first (~50 ms, only
 * when flags are set). A process that cannot start with them says why in its first line.
 */
function refuseBadValues(flags: string[]): void {
  const trial = spawnSync(process.execPath, [...flags, '-e', '0'], { encoding: 'utf8', timeout: 10_000 });
  if (trial.status === 0 || trial.error) return; // it ran, or could not be run here: the name check stands alone
  const why = trial.stderr
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line !== '' && !line.startsWith('<anonymous') && !line.startsWith('Try --help'));
  throw new Error(`${WORKER_V8_FLAGS_ENV}: Node does not start with ${flags.join(' ')}${why ? ` (${why})` : ''}`);
}

/** Flags that print and exit (under a restart policy, a worker that exits 0 at once, for ever), not settings. */
const NOT_SETTINGS = new Set(['help', 'version']);

/**
 * setFlagsFromString ignores a flag V8 does not know (it prints a line and the worker starts as if it were not there):
 * each name is checked against this V8's own list (`node --v8-options`, read only when flags are set).
 */
function refuseUnknown(flags: string[]): void {
  const listing = spawnSync(process.execPath, ['--v8-options'], { encoding: 'utf8', timeout: 10_000 });
  if (listing.status !== 0) return; // the list cannot be read here: the syntax check above stands alone
  const known = new Set([...listing.stdout.matchAll(/^ {2}--([a-z0-9_-]+) /gm)].map((m) => m[1]!.replaceAll('_', '-')));
  for (const flag of flags) {
    const name = flag.slice(2).split('=')[0]!.replaceAll('_', '-');
    const base = name.startsWith('no-') && !known.has(name) ? name.slice(3) : name;
    if (NOT_SETTINGS.has(base)) throw new Error(`${WORKER_V8_FLAGS_ENV}: --${base} prints and exits; give V8 settings only`);
    if (!known.has(base)) throw new Error(`${WORKER_V8_FLAGS_ENV}: V8 has no flag --${name} (see node --v8-options)`);
  }
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
