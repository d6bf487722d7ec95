// Whether this process traces: set once when the SDK starts (or a test installs one); off, every span helper is a no-op.
import type * as OtelApiModule from '@opentelemetry/api';

/**
 * The OpenTelemetry API module: the SDK hands it over, so nothing loads @opentelemetry/api while tracing is off (modules
 * that need its values take them from tracingApi(), and import only its types).
 */
export type OtelApi = typeof OtelApiModule;

export interface TracingRuntime {
  api: OtelApi;
  /** Exports what is buffered (on shutdown, before the process exits). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

let runtime: TracingRuntime | null = null;

export function tracingEnabled(): boolean {
  return runtime !== null;
}

/** The API module while tracing is on, else null. */
export function tracingApi(): OtelApi | null {
  return runtime?.api ?? null;
}

export function setTracingRuntime(next: TracingRuntime | null): void {
  runtime = next;
}

/**
 * Exports buffered spans; resolves (never rejects) when tracing is off or the collector is away, and waits at most
 * `timeoutMs`: an unreachable collector must not eat the shutdown grace period.
 */
export async function flushTracing(timeoutMs = 2_000): Promise<void> {
  if (!runtime) return;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([runtime.flush().catch(() => undefined), deadline]);
  clearTimeout(timer);
}
