// Starts tracing before the server code loads (from src/main.ts), or does nothing at all when no OTLP endpoint is set.
import { readFileSync } from 'node:fs';
import { register } from 'node:module';
import { parseEnv } from 'node:util';
import { parseTracingSettings, TracingConfigError } from './settings.js';
import type { TracingRuntime } from './state.js';

/** The modules the instrumentations patch through the ESM loader hook; everything else is loaded untouched. */
const HOOKED_MODULES = ['ioredis', 'http', 'https'];

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
 * Off (no OTLP endpoint, OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER=none, or the simulator role): returns null having
 * imported nothing. On: registers the loader hook, then imports and starts the SDK — before the caller imports the
 * server code, so ioredis and http load already patched.
 */
export async function startTracing(role: string, env: NodeJS.ProcessEnv = process.env): Promise<TracingRuntime | null> {
  if (role === 'sim') return null;
  const settings = parseTracingSettings(tracingEnv(env));
  if (!settings.enabled) return null;
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: HOOKED_MODULES } });
  const { startSdk } = await import('./sdk.js');
  return startSdk({ settings, role });
}

/** startTracing for the entry point: a bad OTEL_* value stops the process with one `config:` line per problem. */
export async function startTracingOrExit(role: string): Promise<TracingRuntime | null> {
  try {
    return await startTracing(role);
  } catch (err) {
    if (!(err instanceof TracingConfigError)) throw err;
    for (const problem of err.problems) console.error(`config: ${problem}`);
    process.exit(1);
  }
}
