// Whether this process traces: set once when the SDK starts (or a test installs one); off, every span helper is a no-op.
export interface TracingRuntime {
  /** Exports what is buffered (on shutdown, before the process exits). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

let runtime: TracingRuntime | null = null;

export function tracingEnabled(): boolean {
  return runtime !== null;
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
