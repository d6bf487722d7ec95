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

/** Exports buffered spans; resolves (never rejects) when tracing is off or the collector is away. */
export async function flushTracing(): Promise<void> {
  await runtime?.flush().catch(() => undefined);
}
