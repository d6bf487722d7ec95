// The reason a job's run is aborted with (a cancel, a worker shutting down): named AbortError, so what sees it thrown
// (a span, a log) can tell a hand-back from a failure.

/** An abort reason: `new RunAbort('canceled')`. */
export class RunAbort extends Error {
  override readonly name = 'AbortError';
}

/** True for an error a deliberate abort threw: ours, or the DOMException fetch and timers throw. */
export function isAbort(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'AbortError';
}
