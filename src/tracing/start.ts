// Starts tracing before the server code loads (from src/main.ts), or does nothing at all when no OTLP endpoint is set.
import { readFileSync } from 'node:fs';
import { register } from 'node:module';
import { parseEnv } from 'node:util';
import { parseTracingSettings, TracingConfigError } from './settings.js';
import type { TracingRuntime } from './state.js';
import { noteEarlyConfigProblem } from '../core/early-problems.js';

/**
 * The modules patched through the ESM loader hook; everything else loads untouched. Only ioredis needs it: outgoing
 * node:http calls come from CommonJS code (the S3 client), which the http instrumentation patches without the hook, and
 * hooking http here as well gave every S3 request two nested client spans.
 */
const HOOKED_MODULES = ['ioredis'];

/**
 * The OTEL_* variables from the environment and, like the rest of the configuration, from ./.env (the environment
 * wins). Parsed without loading .env into process.env: server.ts does that, after this.
 */
function tracingEnv(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  let fromFile: Record<string, string | undefined> = {};
  try {
    fromFile = parseEnv(readFileSync('.env', 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { ...fromFile, ...env };
}

/**
 * The ESM loader hook (import-in-the-middle) the ioredis instrumentation needs. In-thread synchronous hooks
 * where this Node supports them: the off-thread `module.register` loader costs a second V8 isolate (measured: about
 * 40 MB more RSS for an idle worker) and a message round trip per module loaded after it.
 */
async function registerLoaderHook(): Promise<void> {
  const iitm = await import('import-in-the-middle/register-hooks.mjs');
  if (iitm.supportsSyncHooks()) iitm.register({ include: HOOKED_MODULES });
  else register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: HOOKED_MODULES } });
}

/**
 * Off (no OTLP endpoint, OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER=none, or the simulator role): returns null having
 * imported nothing. On: registers the loader hook, then imports and starts the SDK — before the caller imports the
 * server code, so ioredis (through the hook) and http (through require) load already patched.
 */
export async function startTracing(role: string, env: NodeJS.ProcessEnv = process.env): Promise<TracingRuntime | null> {
  if (role === 'sim') return null;
  const settings = parseTracingSettings(tracingEnv(env));
  if (!settings.enabled) return null;
  await registerLoaderHook();
  const { startSdk } = await import('./sdk.js');
  return startSdk({ settings, role });
}

/**
 * startTracing for the entry point. A bad OTEL_* value starts no tracing and is kept (core/early-problems.ts): the
 * configuration check reports it with every other problem, one `config:` line each, and stops the process. Exiting
 * here hid every other bad setting behind it.
 */
export async function startTracingOrDefer(role: string): Promise<TracingRuntime | null> {
  try {
    return await startTracing(role);
  } catch (err) {
    if (!(err instanceof TracingConfigError)) throw err;
    for (const problem of err.problems) noteEarlyConfigProblem(problem);
    return null;
  }
}
